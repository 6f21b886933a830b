#!/usr/bin/python3
"""Biased vs plain MD of alanine dipeptide in explicit water with VAECVForce on the 22 solute atoms.

Alanine dipeptide (AMBER99SB) solvated by openmm.app.Modeller.addSolvent with TIP3P in a cubic box
of 2.9 nm (2350 atoms), PME with a 0.9 nm cutoff, bonds to hydrogen constrained (rigid water),
Langevin middle 300 K, 1/ps, 2 fs; plain, and with a harmonic restraint on the 2-D latent of the
paper's encoder (66 -> 300 -> 300 -> 2, ReLU) evaluated on the solute atoms (force.setAtoms), centred
on the latent of the starting structure. The bundles (`positions`, `bat`) are trained briefly on
alanine dipeptide in vacuum by run.py's make_bundle (the atoms are the solute's, in the same order).
Plain and biased Contexts alternate block by block, each block ending with getState (OpenCL is
asynchronous); the best block of each counts. Prints us/step, biased/plain and their difference.

    bench/cv_force/solvated.py [--steps 200] [--blocks 5] [--platforms CPU:1,CPU:2,OpenCL] [--mts 4]

Platforms: CPU:N is the CPU platform with Threads=N; OpenCL is whatever OpenCL device OpenMM finds
(PoCL on the development machine: a CPU, not a GPU), single precision. A Context the platform
refuses (the device kernels without a feature kind) is reported as "refused" with the reason.
`--mts K[,K...]` adds the rows of run.py's --mts (the CV in the outer step of slowForceIntegrator,
every K inner steps of 2 fs, and the same integrator on the plain System with a free slow force).

Periodic boundaries: OpenMM integrates unwrapped positions (only getState(enforcePeriodicBox=True)
wraps them), so a solute that starts whole stays whole and the CV sees it whole, as here. `positions`
features are raw coordinates: in water the solute diffuses, so such a CV drifts with the centre of
mass; `bat` features are internal coordinates and do not.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import openmm
import openmm.unit as unit
import torch
from openmm import app

from openmmvae.apps import alanine_dipeptide as ad

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (biased_copy, free_slow_force_copy, make_bundle, slow_force_md, start_md, time_block,  # noqa: E402
                 vacuum_start)

BOX = 2.9  # nm, cubic: 776 waters, 2350 atoms
CUTOFF = 0.9  # nm
SOLUTE_ATOMS = list(range(22))  # Modeller keeps the solute first, in its order


def solvated_start(solute_positions):
    """The solvated System and minimised positions (CPU platform, 2 threads)."""
    forcefield = app.ForceField("amber99sb.xml", "tip3p.xml")
    modeller = app.Modeller(ad.topology(), solute_positions)
    modeller.addSolvent(forcefield, model="tip3p", boxSize=openmm.Vec3(BOX, BOX, BOX) * unit.nanometer)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=CUTOFF * unit.nanometer,
                                     constraints=app.HBonds, rigidWater=True)
    atoms = list(modeller.topology.atoms())
    assert [a.name for a in atoms[:22]] == [a.name for a in ad.topology().atoms()], "solute not first"
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"),
                             {"Threads": "2"})
    context.setPositions(modeller.positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 500)
    return system, context.getState(getPositions=True).getPositions()


def solvated_biased_copy(system, positions, bundle, features):
    """run.py's biased copy on the solute atoms, the restraint centred on the starting latent."""
    biased_system, cv = biased_copy(system, bundle, features)
    cv.setAtoms(SOLUTE_ATOMS)
    context = openmm.Context(biased_system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU"),
                             {"Threads": "1"})
    context.setPositions(positions)
    cv.useHarmonicRestraint(cv.getCollectiveVariableValues(context), cv.getForceConstants())
    return biased_system, cv


def platform_of(name):
    """(OpenMM platform, properties, label) of a --platforms entry."""
    if name.startswith("CPU"):
        threads = name.partition(":")[2] or "1"
        return "CPU", {"Threads": threads}, f"CPU {threads}t"
    if name == "OpenCL":
        return "OpenCL", {"Precision": "single"}, "OpenCL"
    return name, {}, name


def bench(system, positions, bundles, platform_name, steps, blocks, intervals):
    """One platform: the plain Context, then per feature kind the biased ones (refusals noted), timed in
    alternating blocks; prints the rows."""
    platform, properties, label = platform_of(platform_name)
    runs = [("plain", "", start_md(system, positions, platform, properties))]
    refused = []
    for features, bundle in bundles:
        candidates = [("", None)] + [(f" mts{k}", k) for k in intervals]
        for suffix, interval in candidates:
            try:
                if interval is not None:
                    free_system, free = free_slow_force_copy(system)
                    runs.append((features, "plain" + suffix, slow_force_md(free_system, free, interval, positions,
                                                                           platform, properties)))
                biased_system, cv = solvated_biased_copy(system, positions, bundle, features)
                if interval is None:
                    context = start_md(biased_system, positions, platform, properties)
                else:
                    context = slow_force_md(biased_system, cv, interval, positions, platform, properties)
                runs.append((features, cv.getImplementationInContext(context) + suffix, context))
            except openmm.OpenMMException as e:
                refused.append((features, "refused" + suffix, str(e).split(";")[0]))
    best = [float("inf")] * len(runs)
    for _ in range(blocks):
        for i, (_, _, context) in enumerate(runs):
            best[i] = min(best[i], time_block(context, steps))
    plain = best[0]
    for (features, kernel, _), biased in zip(runs[1:], best[1:]):
        print(f"{features:10} {label:9} {kernel:19} {biased:9.1f} {plain:9.1f} {biased / plain:6.3f} {biased - plain:7.1f}",
              flush=True)
    for features, kernel, why in refused:
        print(f"{features:10} {label:9} {kernel:19} {'-':>9} {plain:9.1f} {'-':>6} {'-':>7}  ({why})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per run (the best counts)")
    parser.add_argument("--platforms", default="CPU:1,CPU:2,OpenCL")
    parser.add_argument("--features", default="positions,bat", help="bundle feature kinds (positions, bat)")
    parser.add_argument("--mts", default="", metavar="K[,K...]", help="also the CV every K inner steps (slowForceIntegrator)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    intervals = [int(k) for k in args.mts.split(",") if k]
    vacuum, solute_positions = vacuum_start()
    system, positions = solvated_start(solute_positions)
    with tempfile.TemporaryDirectory() as workdir:
        bundles = [(features, make_bundle(workdir, vacuum, solute_positions, features))
                   for features in args.features.split(",")]
        print(f"alanine dipeptide in TIP3P, {system.getNumParticles()} atoms, {BOX} nm cubic box, PME {CUTOFF} nm, HBonds, "
              f"LangevinMiddle 2 fs; CV on the 22 solute atoms, encoder D-300-300-2; {args.steps} steps per block, "
              f"best of {args.blocks} alternating blocks")
        print(f"{'features':10} {'platform':9} {'kernel':19} {'us/step':>9} {'plain':>9} {'ratio':>6} {'CV us':>7}")
        for platform in args.platforms.split(","):
            bench(system, positions, bundles, platform, args.steps, args.blocks, intervals)


if __name__ == "__main__":
    main()
