"""Training data for VAE-MC proposal bundles: plain MD frames plus extra frames of a rare basin.

    /usr/bin/python3 examples/alanine_dipeptide/enrich_basin.py --data ala2-data --out ala2-enriched \
        --frames 5000

A VAE-MC move is exact whatever distribution its bundle proposes from (science.md section 3): the
acceptance rule restores the Boltzmann weights. What limits the basin transitions per move is how
well the bundle knows each basin. In 20 ns of 300 K MD alpha_R holds 0.6 % of the frames, too few for
the decoder to learn its shape, so proposals there are mostly rejected. This script appends frames
of 300 K Langevin MD confined to a box around alpha_R by flat-bottom torsion walls: inside the box
the walls are zero, so the kept frames (those inside the box) are Boltzmann-distributed within it.

Writes OUT/trajectory.dcd (the --data frames, then the basin frames), OUT/topology.pdb and
OUT/enrichment.json. Train on it with ``openmm-vae train --trajectory OUT/trajectory.dcd --topology
OUT/topology.pdb ...`` as on the plain data.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

import openmm
from openmm import app, unit
from openmmvae.apps import alanine_dipeptide

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acceptance import read_dcd, write_dcd  # noqa: E402

# Box around alpha_R (degrees): wider than the transition core of openmmvae.apps.ramachandran.
PHI_RANGE = (-140.0, -30.0)
PSI_RANGE = (-100.0, 10.0)


def torsion_walls(ranges, k_kj_per_rad2=500.0):
    """A CustomTorsionForce that is zero while each torsion lies in its range and harmonic outside it."""
    wall = openmm.CustomTorsionForce(
        "k*max(0, d - w)^2; d = abs(atan2(sin(theta - c), cos(theta - c)))")
    wall.addGlobalParameter("k", k_kj_per_rad2)
    wall.addPerTorsionParameter("c")
    wall.addPerTorsionParameter("w")
    for atoms, (low, high) in ranges:
        wall.addTorsion(*atoms, [math.radians(0.5 * (low + high)), math.radians(0.5 * (high - low))])
    return wall


def inside(phi, psi):
    return PHI_RANGE[0] <= phi < PHI_RANGE[1] and PSI_RANGE[0] <= psi < PSI_RANGE[1]


def basin_frames(count, interval, equilibrate, seed, progress):
    """`count` frames (nm) of 300 K Langevin MD inside the box, every `interval` steps, from a built
    structure at the box centre (energy-minimised with the walls on, then `equilibrate` steps)."""
    system = alanine_dipeptide.create_system("hbonds")
    system.addForce(torsion_walls([(alanine_dipeptide.PHI_ATOMS, PHI_RANGE),
                                   (alanine_dipeptide.PSI_ATOMS, PSI_RANGE)]))
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtoseconds)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(alanine_dipeptide.build_positions(
        0.5 * (PHI_RANGE[0] + PHI_RANGE[1]), 0.5 * (PSI_RANGE[0] + PSI_RANGE[1])) * unit.nanometer)
    context.applyConstraints(1e-8)
    openmm.LocalEnergyMinimizer.minimize(context)
    context.setVelocitiesToTemperature(300 * unit.kelvin, seed)
    integrator.step(equilibrate)
    frames, outside, started, last = [], 0, time.time(), 0.0
    while len(frames) < count:
        integrator.step(interval)
        x = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        if inside(*alanine_dipeptide.phi_psi(x)):
            frames.append(np.array(x))
        else:
            outside += 1
        if progress and time.time() - last > 10:
            last = time.time()
            sys.stderr.write("enrich: %d/%d basin frames, %.0f s\n" % (len(frames), count, last - started))
    return np.array(frames), outside


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="openmmvae.apps.simulate output folder (trajectory.dcd, topology.pdb)")
    p.add_argument("--out", required=True)
    p.add_argument("--frames", type=int, default=5000, help="basin frames to append")
    p.add_argument("--interval", type=int, default=50, help="MD steps between basin frames")
    p.add_argument("--equilibrate", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.frames < 1 or a.interval < 1:
        p.error("--frames and --interval must be >= 1")
    frames = read_dcd(os.path.join(a.data, "trajectory.dcd"))
    angles = np.array([alanine_dipeptide.phi_psi(x) for x in frames])
    in_box = np.array([inside(phi, psi) for phi, psi in angles])
    basin, outside = basin_frames(a.frames, a.interval, a.equilibrate, a.seed, True)

    os.makedirs(a.out, exist_ok=True)
    shutil.copy(os.path.join(a.data, "topology.pdb"), os.path.join(a.out, "topology.pdb"))
    write_dcd(os.path.join(a.out, "trajectory.dcd"), app.PDBFile(os.path.join(a.data, "topology.pdb")).topology,
              np.concatenate([frames, basin]))
    info = {"data": os.path.abspath(a.data), "data_frames": len(frames), "data_frames_in_box": int(in_box.sum()),
            "basin_frames": len(basin), "frames_outside_box_dropped": outside,
            "box_deg": {"phi": PHI_RANGE, "psi": PSI_RANGE}, "interval_steps": a.interval, "seed": a.seed}
    with open(os.path.join(a.out, "enrichment.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
