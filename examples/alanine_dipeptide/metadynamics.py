#!/usr/bin/python3
"""Well-tempered metadynamics of alanine dipeptide along the 2-D latent of a BAT bundle.

Given a bundle with a 2-D latent (``openmm-vae train --trajectory ... --features bat --latent 2``),
runs ``openmmvae.LatentMetadynamics`` (AMBER99SB, vacuum, HBonds, Langevin 300 K, 1/ps, 2 fs): one
VAECVForce in GridBias mode, a hill every ``--frequency`` steps. Writes to ``--out``:

- ``free_energy.png``: F(z0, z1) = -(gamma/(gamma-1)) V on the grid;
- ``ramachandran.png``: (phi, psi) of the biased run reweighted to the unbiased ensemble with the
  weights exp((V(z_t, t) - c(t))/kT) of Tiwary and Parrinello (2015) over the second half of the
  run, beside the raw biased histogram;
- ``metadynamics.json``: populations of C7eq, C5, alpha_R, alpha_L (reweighted, block errors),
  hills deposited, the run parameters;
- ``bias.npz``: the restart file (LatentMetadynamics.loadBias).

With ``--bench`` it instead times, in this process and on one thread, plain MD, this metadynamics,
and ``openmm.app.Metadynamics`` with one VAECVForce component per latent dimension (2 CVs in a
CustomCVForce, so the network is evaluated twice per step), and prints us/step.

    /usr/bin/python3 examples/alanine_dipeptide/metadynamics.py --bundle bat/beta-1/model.pt --steps 200000 --out metad
    /usr/bin/python3 examples/alanine_dipeptide/metadynamics.py --bundle bat/beta-1/model.pt --bench
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import openmm
import openmm.app
import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide, ramachandran
from openmmvae.metadynamics import LatentMetadynamics

TEMPERATURE = alanine_dipeptide.TEMPERATURE


def latent_bounds(args):
    """The grid bounds: --range, or the latent range of a short unbiased run widened by --margin per side (a
    grid that misses the sampled region puts the particle on the harmonic walls beyond its edges)."""
    if args.range is not None:
        return [-args.range] * 2, [args.range] * 2
    system = alanine_dipeptide.create_system()
    force = openmmvae.VAECVForce(args.bundle)
    force.useComponent(0)
    force.setForceGroup(1)
    system.addForce(force)
    simulation = alanine_dipeptide.create_simulation(system, args.platform, args.seed)
    samples = []
    for _ in range(20):
        simulation.step(250)
        samples.append(force.getCollectiveVariableValues(simulation.context))
    samples = np.array(samples)
    return list(samples.min(axis=0) - args.margin), list(samples.max(axis=0) + args.margin)


def make_metadynamics(system, args, bounds):
    lo, hi = bounds
    grid = openmmvae.LatentGrid(lo, hi, [args.grid, args.grid], [False, False])
    grid.setWallForceConstant(args.wall)
    return LatentMetadynamics(system, args.bundle, grid,
                              sigma=[args.sigma, args.sigma], height=args.height, biasFactor=args.bias_factor,
                              temperature=TEMPERATURE, frequency=args.frequency)


def c_of_t(meta, kT):
    """c(t) of Tiwary and Parrinello, J. Phys. Chem. B 119, 736 (2015), for well-tempered metadynamics:
    kT ln[ sum exp(gamma V / ((gamma-1) kT)) / sum exp(V / ((gamma-1) kT)) ] over the grid, so that
    exp((V(z_t, t) - c(t)) / kT) reweights a frame of time t to the unbiased ensemble."""
    gamma = meta.biasFactor
    v = meta.getBias().value_in_unit(unit.kilojoule_per_mole).ravel() / kT
    a, b = gamma * v / (gamma - 1), v / (gamma - 1)
    return kT * ((a.max() + np.log(np.exp(a - a.max()).sum())) - (b.max() + np.log(np.exp(b - b.max()).sum())))


def run(args):
    kT = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin) * TEMPERATURE
    os.makedirs(args.out, exist_ok=True)
    system = alanine_dipeptide.create_system()
    bounds = latent_bounds(args)
    meta = make_metadynamics(system, args, bounds)
    simulation = alanine_dipeptide.create_simulation(system, args.platform, args.seed)
    frames = args.steps // args.interval
    angles, latent, reweight = np.empty((frames, 2)), np.empty((frames, 2)), np.empty(frames)
    start = time.time()
    for i in range(frames):
        meta.step(simulation, args.interval)
        positions = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        angles[i] = alanine_dipeptide.phi_psi(positions)
        latent[i] = meta.getCollectiveVariables(simulation)
        reweight[i] = (meta.getGrid().evaluate(list(latent[i]))[0] - c_of_t(meta, kT)) / kT
        if (i + 1) % max(frames // 10, 1) == 0:
            sys.stderr.write("  %d / %d steps, %d hills, %.0f s\n" % ((i + 1) * args.interval, args.steps, meta.numHills, time.time() - start))
    meta.saveBias(os.path.join(args.out, "bias.npz"))
    meta.plotFreeEnergy(os.path.join(args.out, "free_energy.png"), title="alanine dipeptide, F along the BAT latent")

    # Reweighting: w_t = exp((V(z_t, t) - c(t)) / kT) over the second half (the first is transient).
    half = slice(frames // 2, frames)
    weights = np.exp(reweight[half] - reweight[half].max())
    phi, psi = angles[half, 0], angles[half, 1]
    populations = ramachandran.populations(phi, psi, blocks=10, weights=weights)
    biased = ramachandran.populations(phi, psi, blocks=10)
    plot_ramachandran(os.path.join(args.out, "ramachandran.png"), phi, psi, weights)
    result = {"steps": args.steps, "hills": meta.numHills, "bundle": os.path.abspath(args.bundle),
              "parameters": {"sigma": args.sigma, "height_kJ_per_mol": args.height, "bias_factor": args.bias_factor,
                             "frequency": args.frequency, "grid": [args.grid, args.grid], "bounds": bounds},
              "populations_reweighted": populations, "populations_biased": biased,
              "effective_frames": float(weights.sum() ** 2 / (weights ** 2).sum()), "frames": int(len(weights)),
              "frames_beyond_grid": int(np.sum(np.any((latent < np.array(bounds[0])) | (latent > np.array(bounds[1])), axis=1))),
              "wall_seconds": time.time() - start}
    with open(os.path.join(args.out, "metadynamics.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("hills", "populations_reweighted", "effective_frames")}, indent=2))


def plot_ramachandran(path, phi, psi, weights):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, w, title in ((axes[0], None, "biased (raw)"), (axes[1], weights, "reweighted to the unbiased ensemble")):
        edges, free = ramachandran.free_energy_map(phi, psi, weights=w)
        image = ax.pcolormesh(edges, edges, free.T, cmap="viridis", vmax=8)
        ax.set_xlabel("phi (deg)")
        ax.set_ylabel("psi (deg)")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label="F / kT")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_steps(simulation, advance, steps, blocks):
    advance(simulation, 200)  # warm-up
    best = float("inf")
    for _ in range(blocks):
        start = time.perf_counter()
        advance(simulation, steps)
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / steps


def bench(args):
    rows = []
    plain = alanine_dipeptide.create_simulation(alanine_dipeptide.create_system(), args.platform, args.seed)
    rows.append(("plain MD", time_steps(plain, lambda s, n: s.step(n), args.bench_steps, args.blocks)))
    bounds = latent_bounds(args)
    system = alanine_dipeptide.create_system()
    meta = make_metadynamics(system, args, bounds)
    biased = alanine_dipeptide.create_simulation(system, args.platform, args.seed)
    rows.append(("LatentMetadynamics (1 VAECVForce, GridBias)", time_steps(biased, meta.step, args.bench_steps, args.blocks)))
    # openmm.app.Metadynamics: one VAECVForce component per latent dimension.
    system = alanine_dipeptide.create_system()
    variables = []
    for k in range(2):
        component = openmmvae.VAECVForce(args.bundle)
        component.useComponent(k)
        variables.append(openmm.app.BiasVariable(component, bounds[0][k], bounds[1][k], args.sigma, False, args.grid))
    app_meta = openmm.app.Metadynamics(system, variables, TEMPERATURE * unit.kelvin, args.bias_factor,
                                       args.height * unit.kilojoule_per_mole, args.frequency)
    try:
        app_sim = alanine_dipeptide.create_simulation(system, args.platform, args.seed)
        rows.append(("app.Metadynamics (2 VAECVForce components in CustomCVForce)",
                     time_steps(app_sim, app_meta.step, args.bench_steps, args.blocks)))
    except openmm.OpenMMException as e:
        # e.g. a BAT bundle: CustomCVForce's inner System has no constraints, which the bundle requires.
        print("app.Metadynamics cannot run this bundle: %s" % e)
    print("platform %s, %d steps per block, best of %d, hill every %d steps" % (args.platform, args.bench_steps, args.blocks, args.frequency))
    print("| run | us/step | ratio to plain |")
    print("|---|---|---|")
    for name, us in rows:
        print("| %s | %.1f | %.2f |" % (name, us, us / rows[0][1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, help="a bundle with a 2-D latent (BAT or positions features)")
    parser.add_argument("--steps", type=int, default=200000)
    parser.add_argument("--interval", type=int, default=100, help="steps between saved frames")
    parser.add_argument("--frequency", type=int, default=500, help="steps between hills")
    parser.add_argument("--sigma", type=float, default=0.15, help="hill width (latent units)")
    parser.add_argument("--height", type=float, default=1.2, help="initial hill height (kJ/mol)")
    parser.add_argument("--bias-factor", type=float, default=8.0)
    parser.add_argument("--grid", type=int, default=81, help="grid points per latent dimension")
    parser.add_argument("--range", type=float, default=None,
                        help="the grid covers [-range, range] per dimension (default: from a short unbiased run)")
    parser.add_argument("--margin", type=float, default=3.0, help="latent units added on each side of the unbiased range")
    parser.add_argument("--wall", type=float, default=10.0,
                        help="force constant of the walls beyond the grid edges (kJ/mol per latent unit^2); a BAT latent "
                             "is steep in the bond lengths, so stiff walls make 2 fs MD unstable")
    parser.add_argument("--platform", default="Reference")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="metadynamics")
    parser.add_argument("--bench", action="store_true", help="time plain MD, this metadynamics and app.Metadynamics instead")
    parser.add_argument("--bench-steps", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()
    if openmmvae.VAECVForce(args.bundle).getNumLatentDimensions() != 2:
        sys.exit("metadynamics.py: %s does not have a 2-D latent" % args.bundle)
    bench(args) if args.bench else run(args)


if __name__ == "__main__":
    main()
