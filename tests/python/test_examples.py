"""The example script and the main README's Python snippet run."""

import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import DistanceCV, archive, metadata

REPO = pathlib.Path(os.environ.get("OPENMMVAE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))


def run(args, cwd):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, timeout=180)


@pytest.mark.processes
def test_biased_md_example(tmp_path):
    model = tmp_path / "cv.pt"
    result = run([str(REPO / "examples" / "biased_md.py"), "--steps", "200", "--model", str(model)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s*\d+\s+0\.\d+", line)]
    assert len(rows) == 16
    z0 = [float(r[2]) for r in rows]
    assert all(0.1 < z < 0.7 for z in z0)
    # The restraint pulls: the last window (center 0.30) ends closer to 0.30 than the first (0.45) does.
    assert sum(z0[-4:]) / 4 < sum(z0[:4]) / 4
    assert model.exists() and model.read_bytes()[:4] == b"PK\x03\x04"


@pytest.mark.processes
def test_readme_snippet(tmp_path):
    text = (REPO / "README.md").read_text()
    text = text[text.index("## Biasing a simulation along a learned CV"):]  # the runnable snippet of that section
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 10 <= len(snippet.strip().splitlines()) <= 25
    # The bundle the snippet expects: 3 atoms, L = 1 (here the distance between atoms 0 and 2).
    (tmp_path / "model.pt").write_bytes(archive(DistanceCV(), metadata([0, 1, 2], 1)))
    (tmp_path / "snippet.py").write_text(snippet)
    result = run(["snippet.py"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("0.22 [")


@pytest.mark.processes
def test_installed_package_finds_its_plugins(tmp_path):
    """`cmake --install --prefix` elsewhere: the installed package loads the installed plugins."""
    build = os.environ.get("OPENMMVAE_BUILD_DIR")
    if not build:
        pytest.skip("OPENMMVAE_BUILD_DIR not set (run through ctest)")
    prefix = tmp_path / "prefix"
    result = subprocess.run(["cmake", "--install", build, "--prefix", str(prefix)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    packages = list(prefix.glob("lib/python3*/dist-packages/openmmvae/__init__.py")) or \
        list(prefix.glob("lib/python3*/site-packages/openmmvae/__init__.py"))
    assert len(packages) == 1
    site = packages[0].parent.parent
    (tmp_path / "model.pt").write_bytes(archive(DistanceCV(), metadata([0, 2], 1)))
    code = r'''
import openmm, openmmvae
import openmmvae.apps.plots  # the subpackage is installed too (the sweep runs it)
print(openmmvae.__file__)
print(openmmvae.apps.plots.__file__)
print(openmmvae.pluginDirectory)
system = openmm.System()
for _ in range(3):
    system.addParticle(1.0)
force = openmmvae.VAECVForce("model.pt")
system.addForce(force)
context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"))
context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(1, 0, 0), openmm.Vec3(0.3, 0.4, 0)])
print(force.getCollectiveVariableValues(context))
'''
    # the installed package, and the openmm package it was built for where that is not the interpreter's own
    paths = [str(site), os.environ.get("OPENMMVAE_OPENMM_PYTHONPATH")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    env.pop("OPENMMVAE_PLUGIN_DIR", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    file, plots, plugins, values = result.stdout.strip().splitlines()
    assert file.startswith(str(site)) and plots == str(site / "openmmvae" / "apps" / "plots.py")
    assert plugins == str(prefix / "lib" / "openmmvae" / "plugins") or plugins.startswith(str(prefix))
    assert values == "[0.5]"


@pytest.mark.processes
def test_enrich_basin_appends_frames_inside_the_box(tmp_path):
    sys.path.insert(0, str(REPO / "examples" / "alanine_dipeptide"))
    import enrich_basin
    from acceptance import read_dcd
    from openmmvae.apps import alanine_dipeptide
    from openmmvae.apps.simulate import simulate

    simulate(str(tmp_path / "data"), frames=20, interval=10, equilibrate=0, plot=False, progress=False)
    result = run([str(REPO / "examples" / "alanine_dipeptide" / "enrich_basin.py"), "--data", str(tmp_path / "data"),
                  "--out", str(tmp_path / "out"), "--frames", "15", "--interval", "20", "--equilibrate", "200"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    frames = read_dcd(str(tmp_path / "out" / "trajectory.dcd"))
    assert frames.shape == (35, 22, 3)
    data = read_dcd(str(tmp_path / "data" / "trajectory.dcd"))
    assert abs(frames[:20] - data).max() < 1e-5
    assert all(enrich_basin.inside(*alanine_dipeptide.phi_psi(x)) for x in frames[20:])
    # the walls are zero inside the box and push back outside it
    import openmm
    system = openmm.System()
    for _ in range(4):
        system.addParticle(1.0)
    wall = enrich_basin.torsion_walls([((0, 1, 2, 3), (-60.0, 60.0))])
    system.addForce(wall)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))

    def energy(angle_deg):
        a = math.radians(angle_deg)
        context.setPositions([(1, 0, 0), (0, 0, 0), (0, 0, 1), (math.cos(a), math.sin(a), 1)])
        return context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)

    assert energy(0.0) == 0.0 and energy(55.0) == 0.0 and energy(-55.0) == 0.0
    assert energy(70.0) == pytest.approx(500.0 * math.radians(10.0) ** 2, rel=1e-6)
    assert energy(-170.0) == pytest.approx(500.0 * math.radians(110.0) ** 2, rel=1e-6)


@pytest.mark.processes
def test_quickstart(tmp_path):
    """examples/alanine_dipeptide/quickstart.py --quick: PDB -> BAT bundle -> latent plot, umbrella, VAE-MC."""
    pytest.importorskip("openmmvae._trainer", reason="openmmvae built without its trainer")
    script = REPO / "examples" / "alanine_dipeptide" / "quickstart.py"
    body = script.read_text().split('"""', 2)[2]  # after the docstring
    code = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 40, len(code)  # short enough to read in a notebook
    result = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path / "qs")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("latent.png", "losses.png", "umbrella.png"):
        assert (tmp_path / "qs" / name).read_bytes()[:4] == b"\x89PNG", name
    assert (tmp_path / "qs" / "vae" / "beta-0.1" / "model.pt").exists()
    assert re.search(r"f_acc of the moves: [0-9.e-]+", result.stdout), result.stdout
    assert re.search(r"VAE-MC: \d+ of 20 moves accepted", result.stdout), result.stdout
