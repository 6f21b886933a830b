"""openmm-vae train --trajectory: a short alanine dipeptide run written by openmm.app.DCDFile, trained
through the real binary with bat, cartesian and positions features; the bundles' metadata against the
OpenMM System; bad input. Usage: trajectory_test.py OPENMM_VAE_BINARY (run by CTest)."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import openmm
from openmm import app, unit

BINARY = sys.argv[1]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
spec = importlib.util.spec_from_file_location("alanine_dipeptide", os.path.join(REPO, "python/openmmvae/apps/alanine_dipeptide.py"))
alanine = importlib.util.module_from_spec(spec)
spec.loader.exec_module(alanine)

work = tempfile.mkdtemp(prefix="vae-trajectory-test-")
dcd_path, pdb_path = os.path.join(work, "ala.dcd"), os.path.join(work, "ala.pdb")

# 40 frames of Langevin MD (Reference platform, hbonds constraints), written as OpenMM writes them.
system = alanine.create_system()
topology = alanine.topology()
integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtoseconds)
integrator.setRandomNumberSeed(5)
context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
context.setPositions(alanine.build_positions() * unit.nanometer)
context.applyConstraints(1e-8)
openmm.LocalEnergyMinimizer.minimize(context)
context.setVelocitiesToTemperature(300 * unit.kelvin, 5)
frames = []
with open(dcd_path, "wb") as f:
    dcd = app.DCDFile(f, topology, 0.002 * unit.picoseconds, interval=25)
    for i in range(40):
        integrator.step(25)
        pos = context.getState(getPositions=True).getPositions(asNumpy=True)
        if i == 0:
            with open(pdb_path, "w") as p:
                app.PDBFile.writeFile(topology, pos, p)
        dcd.writeModel(pos)
        frames.append(pos.value_in_unit(unit.nanometer))
frames = torch.tensor(np.array(frames), dtype=torch.float64)


def train(name, *args, expect_ok=True):
    out = os.path.join(work, name)
    cmd = [BINARY, "train", "--trajectory", dcd_path, "--topology", pdb_path, "--betas", "1", "--epochs", "2",
           "--anneal", "1", "--hidden", "16", "--latent", "2", "--batch", "16", "--validation", "0.2",
           "--temperature", "300", "--threads", "1", "--quiet", "--out", out] + list(args)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if expect_ok:
        assert run.returncode == 0, (cmd, run.stdout, run.stderr)
        extra = {"metadata.json": ""}
        bundle = torch.jit.load(os.path.join(out, "beta-1", "model.pt"), _extra_files=extra)
        return bundle, json.loads(extra["metadata.json"])
    assert run.returncode != 0, (cmd, run.stdout)
    return run.stderr


def distances(x):
    return torch.cdist(x, x)


# --- bat, all atoms, hbonds: 48 features; constrained bonds are exactly the System's constraints.
bundle, meta = train("bat", "--features", "bat", "--atoms", "all", "--constraints", "hbonds")
f = meta["features"]
assert f["kind"] == "bat" and f["constraints"] == "hbonds" and meta["atoms"] == list(range(22)), meta
assert len(f["names"]) == 48 and sum(f["periodic"]) == 19 and bundle.num_features == 48
system_constraints = {}
for c in range(system.getNumConstraints()):
    i, j, length = system.getConstraintParameters(c)
    system_constraints[(min(i, j), max(i, j))] = length.value_in_unit(unit.nanometer)
bundle_constraints = {(min(i, j), max(i, j)): length for i, j, length in f["constrained_bonds"]}
assert set(bundle_constraints) == set(system_constraints), (bundle_constraints, system_constraints)
for key, length in bundle_constraints.items():
    assert abs(length - system_constraints[key]) < 1e-5, (key, length, system_constraints[key])
# Bonds inferred from distances are the topology's bonds (alanine dipeptide's graph is a tree).
tree_bonds = {tuple(sorted(row[:2])) for row in f["tree"]} | {tuple(sorted(f["root"][:2])), tuple(sorted(f["root"][1:]))}
topology_bonds = {tuple(sorted((b[0].index, b[1].index))) for b in topology.bonds()}
assert tree_bonds == topology_bonds, tree_bonds ^ topology_bonds
# Round trip on the MD frames: positions -> features -> positions (external frame from the state).
features, log_j = bundle.featurize(frames)
assert features.shape == (40, 48) and torch.isfinite(log_j).all()
back = bundle.positions_from_features(features, frames)
err = (distances(back) - distances(frames)).abs().max().item()
assert err < 2e-5, err  # the frames satisfy the constraints to OpenMM's tolerance (1e-5 relative)
z = bundle.forward(frames[0])
assert z.shape == (2,) and torch.isfinite(z).all()
# A move from another state's features keeps this state's external coordinates: r0 stays put.
moved = bundle.positions_from_features(features.roll(1, 0), frames)
r0 = f["root"][0]
assert torch.allclose(moved[:, r0], frames[:, r0], atol=1e-12)

# --- cartesian, heavy atoms: 30 features, invariant to a rigid motion of the input.
bundle, meta = train("cartesian", "--features", "cartesian", "--atoms", "heavy")
heavy = [a.index for a in topology.atoms() if a.element.symbol != "H"]
assert meta["atoms"] == heavy and meta["features"]["kind"] == "cartesian" and bundle.num_features == 30, meta
x = frames[:, heavy]
q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
if torch.det(q) < 0:
    q = -q
fx, lj = bundle.featurize(x)
fmoved, _ = bundle.featurize(x @ q + torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
assert (fx - fmoved).abs().max().item() < 1e-9 and (lj == 0).all()
reference = torch.tensor(meta["features"]["reference_positions"], dtype=torch.float64)
assert torch.allclose(reference, bundle.reference) and reference.shape == (10, 3)

# --- positions of chosen atoms.
bundle, meta = train("positions", "--features", "positions", "--atoms", "4,6,8")
assert meta["atoms"] == [4, 6, 8] and bundle.num_features == 9
fx, _ = bundle.featurize(frames[:, [4, 6, 8]])
assert torch.allclose(fx, frames[:, [4, 6, 8]].reshape(40, 9))

# --- bad input: each a non-zero exit naming the problem.
msg = train("bad-index", "--features", "bat", "--atoms", "0,1,99", expect_ok=False)
assert "index 99 is out of range" in msg and "22 atoms" in msg, msg
msg = train("bad-token", "--features", "bat", "--atoms", "0,x", expect_ok=False)
assert "'x' is not an atom index" in msg, msg
with open(dcd_path, "rb") as src:
    data = src.read()
truncated = os.path.join(work, "truncated.dcd")
with open(truncated, "wb") as dst:
    dst.write(data[:-30])
run = subprocess.run([BINARY, "train", "--trajectory", truncated, "--topology", pdb_path, "--features", "bat",
                      "--out", os.path.join(work, "t"), "--quiet"], capture_output=True, text=True)
assert run.returncode != 0 and "truncated" in run.stderr and "truncated.dcd" in run.stderr, run.stderr
lines = open(pdb_path).read().splitlines(True)
short_pdb = os.path.join(work, "short.pdb")
with open(short_pdb, "w") as dst:
    dropped = False
    for line in lines:
        if line.startswith(("ATOM", "HETATM")) and not dropped:
            dropped = True
            continue
        if not line.startswith("CONECT"):
            dst.write(line)
run = subprocess.run([BINARY, "train", "--trajectory", dcd_path, "--topology", short_pdb, "--features", "bat",
                      "--out", os.path.join(work, "s"), "--quiet"], capture_output=True, text=True)
assert run.returncode != 0 and "has 22 atoms but topology" in run.stderr and "has 21" in run.stderr, run.stderr
run = subprocess.run([BINARY, "train", "--trajectory", dcd_path, "--features", "bat", "--out", os.path.join(work, "n"),
                      "--quiet"], capture_output=True, text=True)
assert run.returncode != 0 and "--topology" in run.stderr, run.stderr

# --- no --features with --trajectory: bat (the default fits the input), the same as --features bat.
bundle_default, meta_default = train("default-features", "--atoms", "all")
assert meta_default["features"]["kind"] == "bat", meta_default["features"]["kind"]
_, meta_bat = train("bat-again", "--features", "bat", "--atoms", "all")
assert meta_default["features"] == meta_bat["features"]
# --features given wrongly: the message names the value in effect.
msg = train("xy-trajectory", "--features", "xy", expect_ok=False)
assert "--features with --trajectory must be cartesian, bat or positions, not 'xy'" in msg, msg

# --- the same frames as a .npy array of positions [frames, atoms, 3] in nm: the same features as the DCD
# (which stores float32 Angstrom, so to float32 precision).
npy_path = os.path.join(work, "ala.npy")
np.save(npy_path, frames.numpy())
out = os.path.join(work, "npy")
run = subprocess.run([BINARY, "train", "--trajectory", npy_path, "--topology", pdb_path, "--betas", "1", "--epochs", "1",
                      "--anneal", "1", "--hidden", "16", "--batch", "16", "--validation", "0.2", "--threads", "1",
                      "--quiet", "--out", out], capture_output=True, text=True, timeout=300)
assert run.returncode == 0, run.stderr
extra = {"metadata.json": ""}
bundle_npy = torch.jit.load(os.path.join(out, "beta-1", "model.pt"), _extra_files=extra)
meta_npy = json.loads(extra["metadata.json"])
assert meta_npy["features"]["kind"] == "bat" and meta_npy["features"]["names"] == meta_bat["features"]["names"]
for (i, j, a), (k, l, b) in zip(meta_npy["features"]["constrained_bonds"], meta_bat["features"]["constrained_bonds"]):
    assert (i, j) == (k, l) and abs(a - b) < 1e-6, (i, j, a, b)
# metrics of a trajectory-trained bundle on a trajectory (DCD or .npy): the bundle featurises the frames.
for source in (dcd_path, npy_path):
    mout = os.path.join(work, "metrics-%s.json" % os.path.basename(source))
    run = subprocess.run([BINARY, "metrics", os.path.join(out, "beta-1", "model.pt"), "--trajectory", source,
                          "--out", mout, "--latent-samples", "30"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    m = json.load(open(mout))
    assert m["samples"] == 40 and m["f_acc"] is None and m["latent_samples"] == 30, m
    assert np.load(os.path.join(work, "latent_mean.npy")).shape == (30, 1)
    assert np.load(os.path.join(work, "data.npy")).shape == (30, 48)
# bad .npy positions: not [frames, atoms, 3]
np.save(os.path.join(work, "bad.npy"), np.zeros((40, 22, 2)))
msg = subprocess.run([BINARY, "train", "--trajectory", os.path.join(work, "bad.npy"), "--topology", pdb_path,
                      "--out", os.path.join(work, "b"), "--quiet"], capture_output=True, text=True).stderr
assert "bad.npy" in msg and "[frames, atoms, 3]" in msg, msg
print("trajectory training: ok (", work, ")")
