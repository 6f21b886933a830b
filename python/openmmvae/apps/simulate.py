"""Training data for alanine dipeptide: plain Langevin MD with Debian's OpenMM (science.md section 4).

    /usr/bin/python3 -m openmmvae.apps.simulate --out ala2-data            # 10^5 frames, every 100 steps
    /usr/bin/python3 -m openmmvae.apps.simulate --out small --frames 2000 --interval 50

The paper's model: AMBER99SB (``amber99sb.xml``, shipped with OpenMM), vacuum (``--solvent obc2``:
OBC2 implicit solvent, ``implicit/obc2.xml``), no cutoff, bonds to
hydrogen constrained, Langevin middle integrator at 300 K, 1/ps, 2 fs. The starting structure is
built by ``openmmvae.apps.alanine_dipeptide`` from standard internal coordinates (C7eq region) and
energy-minimised, or read from ``--pdb``. Writes to OUT:

- ``topology.pdb``: the topology (with CONECT records) at the first saved frame;
- ``trajectory.dcd``: one frame every ``--interval`` steps after ``--equilibrate`` steps;
- ``energies.csv``: per frame: step, time (ps), potential and kinetic energy (kJ/mol),
  temperature (K), and for alanine dipeptide phi and psi (degrees);
- ``simulation.json``: the settings, the platform and the measured speed;
- ``ramachandran.png``: the sampled (phi, psi) plane (when matplotlib is available).

Progress (percent done, ns/day, time left) goes to stderr.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np

import openmm
from openmm import app, unit

from . import alanine_dipeptide

__all__ = ["simulate", "main"]


class _Progress:
    """One status line: rewritten in place on a terminal (at most twice a second), else a new line every 10 s."""

    def __init__(self, total, dt_ps, stream):
        self.total, self.dt_ps, self.stream = total, dt_ps, stream
        self.tty = stream.isatty()
        self.started = self.last = time.time()

    def update(self, done, steps_done):
        now = time.time()
        if done < self.total and now - self.last < (0.5 if self.tty else 10.0):
            return
        self.last = now
        elapsed = now - self.started
        ns_per_day = steps_done * self.dt_ps * 1e-3 / max(elapsed, 1e-9) * 86400.0
        left = elapsed / max(done, 1) * (self.total - done)
        line = "simulate: %5.1f%%  frame %d/%d  %.0f ns/day  %.0f s left" % (
            100.0 * done / self.total, done, self.total, ns_per_day, left)
        self.stream.write(("\r" + line + "   ") if self.tty else (line + "\n"))
        if self.tty and done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def simulate(out, frames=100000, interval=100, equilibrate=10000, temperature=300.0, friction=1.0,
             timestep_fs=2.0, seed=1, pdb=None, platform="Reference", constraints="hbonds",
             phi=-80.0, psi=70.0, plot=True, progress=True, solvent="vacuum"):
    """Runs the simulation and writes the files listed in the module docstring; returns the frame count.

    `pdb`: a structure file to start from instead of the built alanine dipeptide (its topology must
    match AMBER99SB templates). `phi`, `psi`: backbone torsions (degrees) of the built structure.
    `solvent`: "vacuum" or "obc2" (OBC2 implicit solvent).
    """
    if frames < 1 or interval < 1 or equilibrate < 0:
        raise ValueError("simulate: frames and interval must be >= 1 and equilibrate >= 0 (got %d, %d, %d)" %
                         (frames, interval, equilibrate))
    if temperature <= 0 or friction < 0 or timestep_fs <= 0:
        raise ValueError("simulate: temperature and timestep must be > 0 and friction >= 0")
    if constraints not in ("hbonds", "none"):
        raise ValueError("simulate: constraints must be 'hbonds' or 'none', got %r" % constraints)
    os.makedirs(out, exist_ok=True)
    if pdb is None:
        topology = alanine_dipeptide.topology()
        positions = alanine_dipeptide.build_positions(phi, psi) * unit.nanometer
        is_alanine = True
    else:
        structure = app.PDBFile(pdb)
        topology, positions = structure.topology, structure.positions
        is_alanine = topology.getNumAtoms() == 22 and [r.name for r in topology.residues()] == ["ACE", "ALA", "NME"]
    system = alanine_dipeptide.create_system(constraints, solvent, topology)
    integrator = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, friction / unit.picosecond,
                                                 timestep_fs * unit.femtoseconds)
    integrator.setRandomNumberSeed(seed)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName(platform))
    simulation.context.setPositions(positions)
    simulation.context.applyConstraints(1e-8)
    simulation.minimizeEnergy()
    simulation.context.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
    if equilibrate:
        simulation.step(equilibrate)

    dof = 3 * system.getNumParticles() - system.getNumConstraints() - 3  # CMMotionRemover removes 3
    kB = (unit.MOLAR_GAS_CONSTANT_R).value_in_unit(unit.kilojoule_per_mole / unit.kelvin)
    dt_ps = timestep_fs * 1e-3
    started = time.time()
    bar = _Progress(frames, dt_ps, sys.stderr) if progress else None
    phipsi = []
    dcd_path = os.path.join(out, "trajectory.dcd")
    with open(dcd_path, "wb") as dcd_file, open(os.path.join(out, "energies.csv"), "w", newline="") as csv_file:
        dcd = app.DCDFile(dcd_file, topology, dt_ps * unit.picoseconds, firstStep=simulation.currentStep,
                          interval=interval)
        table = csv.writer(csv_file)
        table.writerow(["step", "time_ps", "potential_kj_mol", "kinetic_kj_mol", "temperature_k"] +
                       (["phi_deg", "psi_deg"] if is_alanine else []))
        for frame in range(frames):
            simulation.step(interval)
            state = simulation.context.getState(getPositions=True, getEnergy=True)
            pos = state.getPositions(asNumpy=True)
            if frame == 0:
                with open(os.path.join(out, "topology.pdb"), "w") as f:
                    app.PDBFile.writeFile(topology, pos, f, keepIds=True)
            dcd.writeModel(pos)
            potential = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
            kinetic = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
            row = [simulation.currentStep, simulation.currentStep * dt_ps, potential, kinetic, 2 * kinetic / (dof * kB)]
            if is_alanine:
                angles = alanine_dipeptide.phi_psi(pos.value_in_unit(unit.nanometer))
                phipsi.append(angles)
                row += list(angles)
            if not all(math.isfinite(v) for v in row):
                raise RuntimeError("simulate: the simulation blew up at step %d (non-finite energy)" % simulation.currentStep)
            table.writerow(row)
            if bar:
                bar.update(frame + 1, (frame + 1) * interval)
    elapsed = time.time() - started
    info = {"system": "alanine dipeptide" if is_alanine else os.path.abspath(pdb),
            "forcefield": alanine_dipeptide.forcefield_files(solvent), "solvent": solvent, "nonbonded": "NoCutoff", "constraints": constraints,
            "temperature_k": temperature, "friction_per_ps": friction, "timestep_fs": timestep_fs,
            "equilibration_steps": equilibrate, "frames": frames, "interval_steps": interval, "seed": seed,
            "platform": simulation.context.getPlatform().getName(), "seconds": elapsed,
            "us_per_step": elapsed / (frames * interval) * 1e6,
            "files": {"trajectory": "trajectory.dcd", "topology": "topology.pdb", "energies": "energies.csv"}}
    with open(os.path.join(out, "simulation.json"), "w") as f:
        json.dump(info, f, indent=2)
    if plot and phipsi:
        _plot_ramachandran(np.array(phipsi), os.path.join(out, "ramachandran.png"))
    return frames


def _plot_ramachandran(phipsi, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.hist2d(phipsi[:, 0], phipsi[:, 1], bins=72, range=[[-180, 180], [-180, 180]], cmin=1, cmap="viridis")
    ax.set_xlabel("phi (deg)")
    ax.set_ylabel("psi (deg)")
    ax.set_title("alanine dipeptide, %d frames" % len(phipsi))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m openmmvae.apps.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--frames", type=int, default=100000, help="frames to save (default 100000, the paper's)")
    p.add_argument("--interval", type=int, default=100, help="MD steps between frames (default 100 = 0.2 ps)")
    p.add_argument("--equilibrate", type=int, default=10000, help="steps before the first frame (default 10000)")
    p.add_argument("--temperature", type=float, default=300.0, help="kelvin (default 300)")
    p.add_argument("--friction", type=float, default=1.0, help="1/ps (default 1)")
    p.add_argument("--timestep", type=float, default=2.0, help="fs (default 2)")
    p.add_argument("--constraints", choices=["hbonds", "none"], default="hbonds")
    p.add_argument("--solvent", choices=alanine_dipeptide.SOLVENTS, default="vacuum",
                   help="vacuum (the paper's) or obc2 (AMBER99SB + OBC2 implicit solvent)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pdb", help="start from this structure instead of the built alanine dipeptide")
    p.add_argument("--platform", default="Reference",
                   help="OpenMM platform (default Reference: fastest for 22 atoms on a CPU)")
    p.add_argument("--no-plot", action="store_true", help="do not write ramachandran.png")
    a = p.parse_args(argv)
    try:
        simulate(a.out, a.frames, a.interval, a.equilibrate, a.temperature, a.friction, a.timestep, a.seed,
                 a.pdb, a.platform, a.constraints, plot=not a.no_plot, solvent=a.solvent)
    except (ValueError, RuntimeError, OSError, openmm.OpenMMException) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
