#!/usr/bin/python3
"""Biased vs plain MD of alanine dipeptide with VAECVForce (native and TorchScript kernels).

Alanine dipeptide (22 atoms, AMBER99SB, vacuum, HBonds, Langevin 300 K, 2 fs), plain and with a
harmonic restraint on a 2-D latent of the paper's encoder (66 -> 300 -> 300 -> 2, ReLU), one
thread, in one process. Prints us/step and the biased/plain ratio per platform and kernel, and
the cost of one CV evaluation (energy + forces) measured the same way. On OpenCL the CV runs in
the device kernels of platforms/common (one row per precision; TorchScript is not available there).

    bench/cv_force/run.py [--steps 2000] [--blocks 3] [--platforms Reference,CPU,OpenCL] [--mts 4]

`--mts K[,K...]` adds slow-force rows: the biased System with the CV in the outer step of
openmmvae.slowForceIntegrator (MTSLangevinIntegrator, inner step 2 fs, the CV every K inner steps;
kernel column "native-single mtsK"), timed per inner step against the same plain run (LangevinMiddle,
2 fs), and "plain mtsK": the plain System through the same integrator with a slow force that costs
nothing (an empty CustomExternalForce), i.e. what the multiple-time-step CustomIntegrator itself costs.

`--export DIR` writes the positions-feature case as XML instead (plain.xml, biased.xml, state.xml,
model.pt) for the C++ timer `vae-step-time DIR --platform ...`, which needs no OpenMM Python (the
GPU machine has none; see bench/README.md, GPU section).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import openmm
import openmm.unit as unit
import torch

import openmmvae
from openmmvae.apps import alanine_dipeptide as ad

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trainer_command():
    build = os.environ.get("OPENMMVAE_BUILD_DIR", os.path.join(ROOT, "build"))
    for candidate in (os.path.join(build, "bin", "openmm-vae"), shutil.which("openmm-vae")):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("openmm-vae not found: run ./scripts/setup first")


def make_bundle(workdir, system, positions, features):
    """A bundle of the paper's encoder size trained briefly on a short trajectory (quality is irrelevant
    here): `positions` features from a .npy file, or `bat` features (hbonds) from a DCD + PDB."""
    from openmm import app
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond)
    integrator.setRandomNumberSeed(1)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    frames = []
    for _ in range(1000):
        integrator.step(10)
        frames.append(context.getState(getPositions=True).getPositions(asNumpy=True))
    out = os.path.join(workdir, "run-" + features)
    common = ["--latent", "2", "--hidden", "300", "--decoder", "mse", "--betas", "1", "--epochs", "2", "--anneal", "1",
              "--seed", "1", "--threads", "1", "--quiet", "--out", out]
    if features == "positions":
        data = os.path.join(workdir, "ala.npy")
        np.save(data, np.array([f.value_in_unit(unit.nanometer).reshape(-1) for f in frames], dtype=np.float32))
        subprocess.run([trainer_command(), "train", "--data", data, "--features", "positions"] + common, check=True)
    else:
        dcd, pdb = os.path.join(workdir, "ala.dcd"), os.path.join(workdir, "ala.pdb")
        with open(pdb, "w") as f:
            app.PDBFile.writeFile(ad.topology(), frames[0], f)
        with open(dcd, "wb") as f:
            writer = app.DCDFile(f, ad.topology(), 0.02 * unit.picoseconds)
            for frame in frames:
                writer.writeModel(frame)
        subprocess.run([trainer_command(), "train", "--trajectory", dcd, "--topology", pdb, "--features", features,
                        "--constraints", "hbonds"] + common, check=True)
    return os.path.join(out, "beta-1", "model.pt")


TEMPERATURE, FRICTION, STEP = 300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond


def vacuum_start():
    """Alanine dipeptide in vacuum (the System the bundles are trained on) and its minimised positions."""
    system = ad.create_system()
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(ad.build_positions())
    openmm.LocalEnergyMinimizer.minimize(context, 1.0)
    return system, context.getState(getPositions=True).getPositions()


def start_md(system, positions, platform, properties, integrator=None, inner_steps=1):
    """A Context started and warmed up (kernels compiled, 100 inner steps) for timing; by default with
    Langevin middle dynamics, 300 K, 1/ps, 2 fs. `inner_steps`: inner steps per integrator step (the
    interval of a slowForceIntegrator), kept on the Context as `innerSteps` for time_block."""
    if integrator is None:
        integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE, FRICTION, STEP)
    integrator.setRandomNumberSeed(2)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform), properties)
    context.innerSteps = inner_steps
    context.setPositions(positions)
    context.setVelocitiesToTemperature(TEMPERATURE, 2)
    integrator.step(max(1, 100 // inner_steps))
    context.getState(getEnergy=True)  # what time_block asks for: compiled and run once here
    return context


def slow_force_md(system, slow_force, interval, positions, platform, properties):
    """start_md with `slow_force` (a force of `system`) in the outer step of openmmvae.slowForceIntegrator,
    inner step 2 fs."""
    integrator = openmmvae.slowForceIntegrator(system, slow_force, TEMPERATURE, FRICTION, STEP, interval)
    return start_md(system, positions, platform, properties, integrator, interval)


def free_slow_force_copy(system):
    """The System plus a slow force that costs nothing: the baseline of the slow-force rows."""
    copy = openmm.XmlSerializer.clone(system)
    copy.addForce(openmm.CustomExternalForce("0"))
    return copy, copy.getForce(copy.getNumForces() - 1)


def time_block(context, steps):
    """us per inner step of one block of about `steps` inner steps (whole integrator steps); getState at
    the end waits for asynchronous platforms (OpenCL)."""
    outer = max(1, steps // context.innerSteps)
    start = time.perf_counter()
    context.getIntegrator().step(outer)
    context.getState(getEnergy=True)
    return (time.perf_counter() - start) / (outer * context.innerSteps) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--platforms", default="Reference,CPU,OpenCL")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per run (the best counts)")
    parser.add_argument("--features", default="positions,bat", help="bundle feature kinds (positions, bat)")
    parser.add_argument("--export", metavar="DIR", help="write plain.xml, biased.xml, state.xml, model.pt and stop")
    parser.add_argument("--mts", default="", metavar="K[,K...]",
                        help="also time the CV in the outer step, every K inner steps (slowForceIntegrator)")
    args = parser.parse_args()
    intervals = [int(k) for k in args.mts.split(",") if k]
    torch.set_num_threads(1)
    system, positions = vacuum_start()
    if args.export:
        export(args.export, system, positions)
        return
    with tempfile.TemporaryDirectory() as workdir:
        print(f"alanine dipeptide, 22 atoms, 2 fs; encoder D-300-300-2 (positions: D = 66, bat: D = 48 + 19 "
              f"for (cos, sin) of torsions); {args.steps} steps per block, best of {args.blocks} alternating blocks, 1 thread")
        print(f"{'features':10} {'platform':10} {'kernel':19} {'us/step':>9} {'plain':>9} {'ratio':>6} {'CV us':>7}")
        for features in args.features.split(","):
            bundle = make_bundle(workdir, system, positions, features)
            for platform in args.platforms.split(","):
                if platform == "OpenCL":
                    runs = [({"Precision": precision}, ("native",)) for precision in ("single", "mixed")]
                else:
                    runs = [({"Threads": "1"} if platform == "CPU" else {}, ("native", "torchscript"))]
                for properties, implementations in runs:
                    bench_platform(system, positions, bundle, platform, properties, implementations, args.steps, args.blocks,
                                   features, intervals)


def biased_copy(system, bundle, features, implementation="native"):
    """The System plus the benchmarked bias: a harmonic restraint on the 2-D latent."""
    biased_system = openmm.XmlSerializer.clone(system)
    cv = openmmvae.VAECVForce(bundle)
    cv.setProperty("Implementation", implementation)
    # bat features have standard deviations down to ~0.003 nm (bonds): a stiff restraint would make
    # 2 fs MD unstable, so a weaker one (the cost per step does not depend on it).
    kappa = 100.0 if features == "positions" else 1.0
    cv.useHarmonicRestraint([0.0, 0.0], [kappa, kappa])
    biased_system.addForce(cv)
    return biased_system, cv


def export(out, system, positions):
    """The positions-feature case as files for vae-step-time (bench/cv_force/step_time.cpp)."""
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        bundle = make_bundle(workdir, system, positions, "positions")
        shutil.copy(bundle, os.path.join(out, "model.pt"))
    biased_system, _ = biased_copy(system, os.path.join(out, "model.pt"), "positions")
    context = start_md(system, positions, "Reference", {})
    state = context.getState(getPositions=True, getVelocities=True)
    for name, thing in (("plain.xml", system), ("biased.xml", biased_system), ("state.xml", state)):
        with open(os.path.join(out, name), "w") as f:
            f.write(openmm.XmlSerializer.serialize(thing))
    print(f"wrote plain.xml, biased.xml, state.xml, model.pt to {out}")


def bench_platform(system, positions, bundle, platform, properties, implementations, steps, blocks, features,
                   intervals=()):
    """Plain and biased runs (one per implementation, and per slow-force interval with the first
    implementation) timed in alternating blocks, best block of each, so that load from other processes
    affects both alike; prints one table row per biased run."""
    contexts, forces, labels = [start_md(system, positions, platform, properties)], [], []
    for implementation in implementations:
        biased_system, cv = biased_copy(system, bundle, features, implementation)
        forces.append(cv)
        labels.append("")
        contexts.append(start_md(biased_system, positions, platform, properties))
    for interval in intervals:
        free_system, free = free_slow_force_copy(system)
        forces.append(None)
        labels.append(f"plain mts{interval}")
        contexts.append(slow_force_md(free_system, free, interval, positions, platform, properties))
        biased_system, cv = biased_copy(system, bundle, features, implementations[0])
        forces.append(cv)
        labels.append(f" mts{interval}")
        contexts.append(slow_force_md(biased_system, cv, interval, positions, platform, properties))
    best = [float("inf")] * len(contexts)
    for _ in range(blocks):
        for i, context in enumerate(contexts):
            best[i] = min(best[i], time_block(context, steps))
    plain = best[0]
    for cv, label, context, biased in zip(forces, labels, contexts[1:], best[1:]):
        used = label if cv is None else cv.getImplementationInContext(context) + label
        print(f"{features:10} {platform:10} {used:19} {biased:9.1f} {plain:9.1f} {biased / plain:6.2f} {biased - plain:7.1f}")


if __name__ == "__main__":
    main()
