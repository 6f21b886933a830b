#!/usr/bin/python3
"""From a PDB to a learned collective variable, umbrella sampling along it and VAE Monte Carlo, in Python.

    /usr/bin/python3 examples/alanine_dipeptide/quickstart.py [--pdb my.pdb] [--out quickstart] [--quick]

Without --pdb it writes alanine-dipeptide.pdb (openmmvae.apps.alanine_dipeptide) into --out first.
Writes OUT/latent.png, OUT/losses.png and OUT/umbrella.png; prints f_acc and the moves' acceptance.
About 20 s on an idle 2-core VM (AMD EPYC, one core used); --quick (the test suite's) about 5 s.
"""
import argparse, os
import numpy as np, matplotlib.pyplot as plt
import openmm, openmm.app as app, openmm.unit as unit
import openmmvae
from openmmvae.apps import alanine_dipeptide
from openmmvae.wham import wham

a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
a.add_argument("--pdb"); a.add_argument("--out", default="quickstart"); a.add_argument("--quick", action="store_true")
a = a.parse_args()
os.makedirs(a.out, exist_ok=True)
if a.pdb is None:  # a newcomer's first PDB: capped alanine
    a.pdb = os.path.join(a.out, "alanine-dipeptide.pdb")
    with open(a.pdb, "w") as f: app.PDBFile.writeFile(alanine_dipeptide.topology(), alanine_dipeptide.build_positions(), f)
frames, epochs, windows, steps = (1000, 15, 4, 500) if a.quick else (5000, 60, 10, 3000)

# 1. Plain MD from the PDB: 2 fs Langevin at 300 K, AMBER99SB in vacuum, a frame every 0.1 ps.
pdb = app.PDBFile(a.pdb)
make_system = lambda: app.ForceField("amber99sb.xml").createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
system = make_system()
sim = app.Simulation(pdb.topology, system, openmm.LangevinMiddleIntegrator(300, 1, 0.002), openmm.Platform.getPlatformByName("Reference"))
sim.context.setPositions(pdb.positions); sim.minimizeEnergy(); sim.step(1000)
positions = []
for _ in range(frames):
    sim.step(50); positions.append(sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))

# 2. A VAE on BAT features (the default for trajectories), its latent and losses. beta = 0.1: on a few
#    thousand frames beta = 1 leaves the latent unused (KL ~0.1 nats), a CV that says nothing.
run = openmmvae.train(os.path.join(a.out, "vae"), trajectory=np.array(positions), topology=pdb.topology, temperature=300,
                      decoder="autoregressive", latent=1, betas=[0.1], epochs=epochs, anneal=5, learning_rate=1e-3, threads=1)
run.plotLatent(path=os.path.join(a.out, "latent.png")); run.plotLosses(path=os.path.join(a.out, "losses.png"))
print("f_acc of the moves:", run.metrics(system=system, chains=5, moves=20)["f_acc"])

# 3. Umbrella sampling along z with a VAECVForce, unbiased by WHAM.
z = run.latents()[1][:, 0]
centers = np.linspace(*np.percentile(z, [2, 98]), windows); kappa = 2 * 2.494 / (centers[1] - centers[0]) ** 2
cv = openmmvae.VAECVForce(run.bundle()); cv.useHarmonicRestraint([centers[0]], [kappa]); system.addForce(cv)
sim = app.Simulation(pdb.topology, system, openmm.LangevinMiddleIntegrator(300, 1, 0.002), openmm.Platform.getPlatformByName("Reference"))
sim.context.setPositions(positions[-1]); samples = []
for c in centers:
    sim.context.setParameter(cv.getCenterParameterName(0), c); sim.step(steps // 5); samples.append([])
    for _ in range(steps // 10): sim.step(10); samples[-1].append(cv.getCollectiveVariableValues(sim.context)[0])
f = wham(samples, centers, kappa, 2.494, np.linspace(centers[0], centers[-1], 25))
plt.figure(); plt.plot(f.bin_centers, f.free_energy); plt.xlabel("z0"); plt.ylabel("F (kT)"); plt.savefig(os.path.join(a.out, "umbrella.png"))

# 4. VAE-MC + Langevin: a move every 50 steps.
mc = openmmvae.VAEMCIntegrator(300, 1, 0.002, run.bundle(), 50, 1)
ctx = openmm.Context(make_system(), mc, openmm.Platform.getPlatformByName("Reference"))
ctx.setPositions(positions[-1]); mc.step(steps * 2)
print("VAE-MC: %d of %d moves accepted; F along z0 spans %.1f kT" % (mc.getNumAccepted(), mc.getNumAttempted(), f.free_energy[np.isfinite(f.free_energy)].max()))
