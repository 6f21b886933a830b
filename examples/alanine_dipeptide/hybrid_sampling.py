#!/usr/bin/python3
"""VAE-MC + MD hybrid sampling of alanine dipeptide against plain MD of the same CPU time.

Given a BAT bundle trained on alanine dipeptide data (``openmm-vae train --trajectory ... --features
bat``), runs two simulations from the same starting structure on the same platform:

- plain Langevin MD (``openmm.LangevinMiddleIntegrator``, 300 K, 1/ps, 2 fs);
- ``openmmvae.VAEMCIntegrator`` with the same Langevin parameters and VAE moves every
  ``--steps-between-moves`` steps;

each for ``--cpu-seconds`` of process CPU time, saving (phi, psi) every ``--interval`` steps. It
reports the acceptance rate, the populations of the C7eq, C5, alpha_R and alpha_L regions with
block-averaged standard errors, the basin transitions per CPU-second (``openmmvae.apps.ramachandran``
cores; the C7eq/C5 <-> alpha_R ones also split by whether the chain was last in C7eq or C5),
and, with ``--reference DIR`` (a long plain-MD data set written by ``python3 -m openmmvae.apps.simulate``),
the z-scores of both runs' populations against it. Writes ``hybrid.json`` and ``hybrid.png`` to
``--out``. With ``--frame-every-move`` the hybrid's frames come after every move (and every round of
dynamics) instead of every ``--interval`` steps: a visit of alpha_R made by a move often lasts one or
two moves, and frames of whole rounds would miss it.

    /usr/bin/python3 examples/alanine_dipeptide/hybrid_sampling.py --bundle bat/beta-1/model.pt \\
        --reference ala-data --cpu-seconds 300 --out hybrid
"""
import argparse
import json
import os
import sys

import numpy as np

import openmm
import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide, hybrid, ramachandran


def run(integrator, platform, cpu_seconds, interval, positions, seed, moves_per_round=0):
    """Frames (openmmvae.apps.hybrid) of `integrator` on alanine dipeptide for `cpu_seconds` CPU seconds."""
    system = alanine_dipeptide.create_system()
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions)
    context.applyConstraints(1e-8)
    context.setVelocitiesToTemperature(300 * unit.kelvin, seed)
    return hybrid.run_for_cpu_seconds(context, integrator, cpu_seconds, interval, moves_per_round,
                                      label=type(integrator).__name__)


def plot(path, runs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(4 * (len(runs) + 1), 3.8))
    for ax, (name, phi, psi) in zip(axes, runs):
        ax.hist2d(phi, psi, bins=60, range=[[-180, 180], [-180, 180]], cmin=1, cmap="viridis")
        ax.set_title(name)
        ax.set_xlabel("phi (deg)")
        ax.set_ylabel("psi (deg)")
    ax = axes[-1]
    width = 0.8 / len(runs)
    for k, (name, phi, psi) in enumerate(runs):
        pops = ramachandran.populations(phi, psi, blocks=10)
        x = np.arange(len(ramachandran.REGIONS)) + k * width
        ax.bar(x, [pops[r][0] for r in ramachandran.REGIONS], width, yerr=[pops[r][1] for r in ramachandran.REGIONS],
               label=name)
    ax.set_xticks(np.arange(len(ramachandran.REGIONS)) + 0.4 - width / 2)
    ax.set_xticklabels(ramachandran.REGIONS)
    ax.set_ylabel("population")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, help="BAT bundle of alanine dipeptide (model.pt)")
    p.add_argument("--out", default="hybrid")
    p.add_argument("--reference", help="long plain-MD data set (openmmvae.apps.simulate output folder)")
    p.add_argument("--cpu-seconds", type=float, default=120.0, help="CPU time of each run (default 120)")
    p.add_argument("--interval", type=int, default=50, help="steps between saved frames (default 50)")
    p.add_argument("--hybrid-interval", type=int, default=0,
                   help="steps between saved frames of the hybrid run (default: --interval); with many moves per "
                        "step, frames every round of moves keep short visits of a basin from being missed")
    p.add_argument("--frame-every-move", action="store_true",
                   help="hybrid frames after every move and every round of dynamics (a visit of alpha_R by a move "
                        "often lasts one or two moves); the script makes the rounds, the chain is the same")
    p.add_argument("--steps-between-moves", type=int, default=50)
    p.add_argument("--moves-per-attempt", type=int, default=1)
    p.add_argument("--proposal-batch-size", type=int, default=0,
                   help="proposals per batched bundle evaluation (default: the integrator's)")
    p.add_argument("--blocks", type=int, default=20, help="blocks for the population errors (default 20)")
    p.add_argument("--platform", default="Reference")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-md", action="store_true", help="only the hybrid run")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    positions = alanine_dipeptide.build_positions() * unit.nanometer
    reference = None
    result = {"settings": vars(a)}
    if a.reference:
        reference, n = hybrid.reference_populations(a.reference, a.blocks)
        result["reference"] = {"frames": n, "populations": {k: {"value": v, "error": e} for k, (v, e) in reference.items()}}
    runs = []
    temperature, friction, dt = 300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtoseconds
    if not a.skip_md:
        md = openmm.LangevinMiddleIntegrator(temperature, friction, dt)
        md.setRandomNumberSeed(a.seed)
        frames = run(md, a.platform, a.cpu_seconds, a.interval, positions, a.seed)
        result["md"] = hybrid.summarize("plain MD", frames, reference, a.blocks)
        runs.append(("plain MD", frames.phi, frames.psi))
    vaemc = openmmvae.VAEMCIntegrator(temperature, friction, dt, a.bundle, a.steps_between_moves,
                                       0 if a.frame_every_move else a.moves_per_attempt)
    if a.proposal_batch_size > 0:
        vaemc.setProposalBatchSize(a.proposal_batch_size)
    vaemc.setRandomNumberSeed(a.seed)
    vaemc.setMoveRandomNumberSeed(a.seed)
    # with --frame-every-move run() makes the rounds: one per steps_between_moves steps
    interval = a.steps_between_moves if a.frame_every_move else (a.hybrid_interval or a.interval)
    frames = run(vaemc, a.platform, a.cpu_seconds, interval, positions, a.seed,
                 moves_per_round=a.moves_per_attempt if a.frame_every_move else 0)
    result["hybrid"] = hybrid.summarize("VAE-MC + MD", frames, reference, a.blocks)
    result["hybrid"]["moves_attempted"] = vaemc.getNumAttempted()
    result["hybrid"]["moves_accepted"] = vaemc.getNumAccepted()
    result["hybrid"]["acceptance"] = vaemc.getAcceptanceRate()
    result["hybrid"]["proposal_batch_size"] = vaemc.getProposalBatchSize()
    result["hybrid"]["ln_alpha_terms"] = dict(zip(vaemc.getTermNames(), zip(vaemc.getTermMeans(), vaemc.getTermStds())))
    runs.append(("VAE-MC + MD", frames.phi, frames.psi))
    if "md" in result and result["md"]["transitions_per_cpu_second"] > 0:
        result["transitions_per_cpu_second_ratio"] = (result["hybrid"]["transitions_per_cpu_second"] /
                                                      result["md"]["transitions_per_cpu_second"])
    if "md" in result:
        result["alpha_R_transitions_per_cpu_second_ratio"] = {
            k: (result["hybrid"]["alpha_R_transitions_by_side"][k] / result["hybrid"]["cpu_seconds"] /
                (v / result["md"]["cpu_seconds"]) if v > 0 else None)
            for k, v in result["md"]["alpha_R_transitions_by_side"].items()}
    with open(os.path.join(a.out, "hybrid.json"), "w") as f:
        json.dump(result, f, indent=2)
    plot(os.path.join(a.out, "hybrid.png"), runs)
    for key in ("md", "hybrid"):
        if key in result:
            r = result[key]
            pops = ", ".join("%s %.3f+-%.3f" % (k, v["value"], v["error"]) for k, v in r["populations"].items())
            print("%-12s %6d steps, %4d transitions (%.3f per CPU s); %s" % (
                r["sampler"], r["md_steps"], r["transitions"], r["transitions_per_cpu_second"], pops))
            print("%-12s %s" % ("", ", ".join("%s %d (%.3f per CPU s)" % (k, v, v / r["cpu_seconds"])
                                               for k, v in r["alpha_R_transitions_by_side"].items())))
            if "z_vs_reference" in r:
                print("%-12s z vs reference: %s" % ("", ", ".join("%s %+.1f" % kv for kv in r["z_vs_reference"].items())))
    print("acceptance %.4f (%d / %d moves)" % (result["hybrid"]["acceptance"], result["hybrid"]["moves_accepted"],
                                              result["hybrid"]["moves_attempted"]))
    if "transitions_per_cpu_second_ratio" in result:
        print("transitions per CPU second, hybrid / MD: %.2f" % result["transitions_per_cpu_second_ratio"])
    for k, v in result.get("alpha_R_transitions_per_cpu_second_ratio", {}).items():
        print("%s transitions per CPU second, hybrid / MD: %s" % (k, "n/a (none in MD)" if v is None else "%.2f" % v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
