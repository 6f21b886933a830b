"""Sampler comparisons on alanine dipeptide at equal CPU time: runs bounded by process CPU seconds,
with (phi, psi) frames and the CPU time of each frame, and the honest metrics of science.md section 7
(basin transitions per CPU second, the squared standard error of a population times CPU seconds).

phi and psi are computed here only to measure a run; no sampler sees them.

    frames = run_for_cpu_seconds(context, integrator, 60, interval=100)            # plain MD
    frames = run_for_cpu_seconds(context, vaemc, 60, interval=10, moves_per_round=100)
    summary = summarize("VAE-MC + MD", frames, reference_populations)
"""
import csv
import os
import sys
import time

import numpy as np

from openmm import unit

from . import alanine_dipeptide, ramachandran

__all__ = ["Frames", "run_for_cpu_seconds", "alpha_r_transitions", "summarize", "efficiency_ratios",
           "error_versus_cpu", "reference_populations"]


class Frames:
    """(phi, psi) in degrees per frame, the process CPU seconds at each frame, MD steps and CPU total."""

    def __init__(self, phi, psi, cpu_at_frame, steps, cpu_seconds):
        self.phi, self.psi, self.cpu_at_frame = phi, psi, cpu_at_frame
        self.steps, self.cpu_seconds = steps, cpu_seconds

    def __len__(self):
        return len(self.phi)


def run_for_cpu_seconds(context, integrator, cpu_seconds, interval, moves_per_round=0, label="run", chunk_frames=10):
    """Advances `context` for `cpu_seconds` of this process's CPU time, a frame every `interval` steps.

    With `moves_per_round` > 0 (a VAEMCIntegrator whose own rounds are off), every `interval` steps
    are followed by that many VAE moves, each with a frame: the chain that movesPerAttempt =
    moves_per_round makes, seen after every move (a rejected move repeats the frame; positions are
    read only after an accepted one). A visit of a basin made by a move often lasts one or two moves,
    and frames of whole rounds would miss it. Returns Frames."""
    def angles():
        pos = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        return alanine_dipeptide.phi_psi(pos)

    frames, times = [], []
    start = time.process_time()
    shown = time.time()
    steps = 0
    while time.process_time() - start < cpu_seconds:
        for _ in range(chunk_frames):
            integrator.step(interval)
            steps += interval
            frames.append(angles())
            times.append(time.process_time() - start)
            accepted = integrator.getNumAccepted() if moves_per_round else 0
            for _ in range(moves_per_round):
                integrator.attemptMoves(1)
                now = integrator.getNumAccepted()
                frames.append(angles() if now != accepted else frames[-1])
                times.append(time.process_time() - start)
                accepted = now
        if time.time() - shown > 10:
            shown = time.time()
            sys.stderr.write("  %s: %.0f / %.0f CPU s, %d steps, %d frames\n"
                             % (label, time.process_time() - start, cpu_seconds, steps, len(frames)))
    cpu = time.process_time() - start
    a = np.array(frames)
    return Frames(a[:, 0], a[:, 1], np.array(times), steps, cpu)


def reference_populations(directory, blocks=20):
    """Populations (block errors) of a long plain-MD run written by `openmmvae.apps.simulate` (its
    energies.csv), and its frame count."""
    with open(os.path.join(directory, "energies.csv")) as f:
        rows = list(csv.DictReader(f))
    phi = np.array([float(r["phi_deg"]) for r in rows])
    psi = np.array([float(r["psi_deg"]) for r in rows])
    return ramachandran.populations(phi, psi, blocks=blocks), len(rows)


def alpha_r_transitions(phi, psi):
    """Transitions between the beta core (C7eq and C5) and the alpha_R core, each attributed to the region
    (C7eq or C5) the chain was last in on the beta side: {'C7eq<->alpha_R': n, 'C5<->alpha_R': m}."""
    names = ramachandran.REGIONS
    region = ramachandran.regions(phi, psi)
    counts = {"C7eq<->alpha_R": 0, "C5<->alpha_R": 0}
    last_core, last_beta = None, None
    for core, r in zip(ramachandran.core_sequence(phi, psi), region):
        if names[r] in ("C7eq", "C5"):
            last_beta = names[r]
        if core is None:
            continue
        if last_core is not None and core != last_core and {core, last_core} == {"beta", "alpha_R"} and last_beta:
            counts["%s<->alpha_R" % last_beta] += 1
        last_core = core
    return counts


def summarize(name, frames, reference=None, blocks=20):
    """Populations (block errors), transitions and their rates per CPU second, the alpha_R efficiency
    1 / (error^2 x CPU s), and z-scores against `reference` (a ramachandran.populations() result)."""
    phi, psi, cpu = frames.phi, frames.psi, frames.cpu_seconds
    pops = ramachandran.populations(phi, psi, blocks=blocks)
    transitions, pairs = ramachandran.count_transitions(phi, psi)
    alpha_r = alpha_r_transitions(phi, psi)
    error = pops["alpha_R"][1]
    out = {"sampler": name, "cpu_seconds": cpu, "md_steps": frames.steps, "frames": len(frames),
           "populations": {k: {"value": v, "error": e} for k, (v, e) in pops.items()},
           "transitions": transitions, "transitions_by_pair": pairs, "transitions_per_cpu_second": transitions / cpu,
           "alpha_R_transitions": sum(alpha_r.values()), "alpha_R_transitions_by_side": alpha_r,
           "alpha_R_transitions_per_cpu_second": sum(alpha_r.values()) / cpu,
           "alpha_R_error_squared_times_cpu": error * error * cpu,
           "alpha_R_efficiency": 1.0 / (error * error * cpu) if error > 0 else None}
    if reference is not None:
        out["z_vs_reference"] = ramachandran.compare(reference, pops)
    return out


def efficiency_ratios(hybrid, md, extra_cpu_seconds=0.0):
    """Hybrid over plain MD: alpha_R transitions per CPU second and 1 / (alpha_R error^2 x CPU s).

    With `extra_cpu_seconds` (what made the hybrid's model) the hybrid is charged that time too: its
    transitions are divided by (production + extra) CPU seconds, and its error^2 is multiplied by them,
    against plain MD's rates (MD given the same whole time makes transitions at its rate and its
    error^2 falls as 1 / time). A ratio is None where it is undefined: no transition in MD, or a zero
    block error (a run that never left or never reached alpha_R has no measured error)."""
    charged = hybrid["cpu_seconds"] + extra_cpu_seconds
    rate = md["alpha_R_transitions_per_cpu_second"]
    transitions = (hybrid["alpha_R_transitions"] / charged) / rate if rate > 0 else None
    md_cost = md["alpha_R_error_squared_times_cpu"]
    hybrid_error = hybrid["populations"]["alpha_R"]["error"]
    error = md_cost / (hybrid_error * hybrid_error * charged) if hybrid_error > 0 and md_cost > 0 else None
    return {"alpha_R_transitions_per_cpu_second": transitions, "alpha_R_efficiency": error}


def error_versus_cpu(frames, points=12, blocks=20, region="alpha_R"):
    """(CPU seconds, block standard error of the region's population) over growing prefixes of a run:
    the population-error-versus-CPU-time curve. Prefixes shorter than 10 frames per block are skipped."""
    cpu, errors = [], []
    for fraction in np.linspace(1.0 / points, 1.0, points):
        n = int(round(fraction * len(frames)))
        if n < 10 * blocks:
            continue
        pops = ramachandran.populations(frames.phi[:n], frames.psi[:n], blocks=blocks)
        cpu.append(float(frames.cpu_at_frame[n - 1]))
        errors.append(pops[region][1])
    return np.array(cpu), np.array(errors)
