"""The main job (`python -m openmmvae.apps.demo`, run by ./scripts/demo) in its reduced mode: it must finish,
write every output it promises, and its numbers must make sense."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.demo


def test_quick_demo_writes_its_outputs(tmp_path):
    build = os.environ.get("OPENMMVAE_BUILD_DIR")
    if not build or not os.path.exists(os.path.join(build, "bin", "openmm-vae")):
        pytest.skip("the openmm-vae trainer of the build tree is needed (run through ctest)")
    out = tmp_path / "demo"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "openmmvae.apps.demo", "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ("model.pt", "metrics.json", "summary.json", "losses.csv", "data_by_latent.png",
                 "latent_density.png", "sampled_vs_exact.png", "free_energy.png", "enrichment.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert isinstance(metrics["f_acc"], float) and 0.0 <= metrics["f_acc"] <= 1.0
    summary = json.loads((out / "summary.json").read_text())
    mc = summary["vae_mc_langevin"]
    assert mc["moves_attempted"] > 0 and 0.0 <= mc["acceptance_rate"] <= 1.0
    assert mc["moves_accepted"] == round(mc["acceptance_rate"] * mc["moves_attempted"])
    # what made the model is counted: data, both trainings and the metadynamics
    assert set(mc["model_cpu_seconds"]) == {"data", "train", "enrich", "retrain"}
    assert all(v > 0 for v in mc["model_cpu_seconds"].values())
    assert mc["cpu_seconds_vae_mc"] > 0 and mc["cpu_seconds_plain"] > 0
    # both samplers are much closer to the exact density than a uniform histogram would be
    assert mc["total_variation_vae_mc"] < 0.5 and mc["total_variation_plain"] < 0.5
    umbrella = summary["umbrella"]
    assert umbrella["bins_compared"] >= 5
    # even the reduced run recovers the exact F(z) to within a few kT below 6 kT
    assert umbrella["rms_deviation_kT"] < 2.0
