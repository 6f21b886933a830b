#!/usr/bin/python3
"""Umbrella sampling of alanine dipeptide along a learned latent coordinate with VAECVForce.

Given a bundle trained on alanine dipeptide data (``openmm-vae train --trajectory ... --features bat``
or ``cartesian``) and the plain-MD data set it was trained on (``python3 -m openmmvae.apps.simulate``):

1. computes the encoder mean z of reference frames and places ``--windows`` harmonic windows along
   z_d (``--dimension``) between its 1st and 99th percentiles, the force constant chosen so that
   neighbouring windows overlap (kappa = 2 kT / spacing^2; the other latent dimensions are free);
2. runs each window with a VAECVForce harmonic restraint (the centre moved through the Context
   parameter), starting from the reference frame nearest to the window centre, and records z and
   (phi, psi);
3. unbiases the windows with WHAM (``openmmvae.wham``): the free energy along z_d, compared with
   -ln P(z_d) of the long plain-MD reference, and the (phi, psi) region populations of the biased
   frames reweighted to the unbiased ensemble, compared with the reference populations;
4. writes ``umbrella.json`` and ``umbrella.png`` (F along z_d; the Ramachandran plot of the reference
   coloured by z_d; the reweighted Ramachandran histogram of the umbrella frames) into ``--out``.

    /usr/bin/python3 examples/alanine_dipeptide/umbrella.py --bundle bat/beta-1/model.pt \\
        --reference ala-data --windows 12 --steps 20000 --out umbrella
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide, ramachandran
from openmmvae.wham import wham

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acceptance import read_dcd  # noqa: E402  (the DCD reader of the examples)

TEMPERATURE = alanine_dipeptide.TEMPERATURE


def latent_of_frames(bundle_path, frames):
    """Encoder means [n, L] of frames [n, 22, 3] (nm) through the bundle's TorchScript latent_mean."""
    import torch

    model = torch.jit.load(bundle_path, map_location="cpu")
    out = []
    with torch.no_grad():
        for start in range(0, len(frames), 4096):
            out.append(model.latent_mean(torch.from_numpy(frames[start:start + 4096]).double()).numpy())
    return np.concatenate(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, help="alanine dipeptide bundle (bat or cartesian features)")
    p.add_argument("--reference", required=True, help="openmmvae.apps.simulate output folder (trajectory.dcd)")
    p.add_argument("--dimension", type=int, default=0, help="latent dimension to bias")
    p.add_argument("--windows", type=int, default=12)
    p.add_argument("--steps", type=int, default=20000, help="MD steps sampled per window (2 fs)")
    p.add_argument("--equilibrate", type=int, default=2000, help="MD steps per window before sampling")
    p.add_argument("--interval", type=int, default=20, help="steps between recorded frames")
    p.add_argument("--reference-frames", type=int, default=20000, help="reference frames used (evenly spaced)")
    p.add_argument("--bins", type=int, default=40)
    p.add_argument("--platform", default="CPU")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="umbrella")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)

    frames = read_dcd(os.path.join(a.reference, "trajectory.dcd"))
    frames = frames[np.linspace(0, len(frames) - 1, min(a.reference_frames, len(frames))).astype(int)]
    z_ref = latent_of_frames(a.bundle, frames)
    if not 0 <= a.dimension < z_ref.shape[1]:
        raise SystemExit("umbrella: --dimension %d but the bundle's latent has %d dimensions" % (a.dimension, z_ref.shape[1]))
    zd = z_ref[:, a.dimension]
    angles_ref = np.array([alanine_dipeptide.phi_psi(x) for x in frames])
    low, high = np.percentile(zd, [1, 99])
    centers = np.linspace(low, high, a.windows)
    spacing = centers[1] - centers[0]
    kt = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin) * TEMPERATURE
    kappa = 2.0 * kt / spacing ** 2

    system = alanine_dipeptide.create_system("hbonds")
    force = openmmvae.VAECVForce(a.bundle)
    latent = force.getNumLatentDimensions()
    kappas = [0.0] * latent
    kappas[a.dimension] = kappa
    force.useHarmonicRestraint([0.0] * latent, kappas)
    system.addForce(force)
    simulation = alanine_dipeptide.create_simulation(system, a.platform, a.seed)
    context, integrator = simulation.context, simulation.integrator
    print("VAECVForce implementation: %s; %d windows along z%d in [%.3f, %.3f], kappa %.1f kJ/mol"
          % (force.getImplementationInContext(context), a.windows, a.dimension, low, high, kappa), flush=True)
    center_name = force.getCenterParameterName(a.dimension)
    z_windows, angles_windows = [], []
    start = time.process_time()
    for k, c in enumerate(centers):
        context.setParameter(center_name, float(c))
        context.setPositions(frames[np.argmin(np.abs(zd - c))] * unit.nanometer)
        context.applyConstraints(1e-8)
        context.setVelocitiesToTemperature(TEMPERATURE * unit.kelvin, a.seed + k)
        integrator.step(a.equilibrate)
        z, angles = [], []
        for _ in range(a.steps // a.interval):
            integrator.step(a.interval)
            z.append(force.getCollectiveVariableValues(context)[a.dimension])
            pos = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            angles.append(alanine_dipeptide.phi_psi(pos))
        z_windows.append(np.array(z))
        angles_windows.append(np.array(angles))
        print("window %2d/%d  centre %7.3f  <z> %7.3f  sd %.3f  (%.0f CPU s)" % (
            k + 1, a.windows, c, np.mean(z), np.std(z), time.process_time() - start), flush=True)
    cpu = time.process_time() - start

    edges = np.linspace(low - spacing, high + spacing, a.bins + 1)
    result = wham(z_windows, centers, kappa, kt, edges)
    counts, _ = np.histogram(zd, bins=edges)
    with np.errstate(divide="ignore"):
        reference_free = -np.log(counts / counts.sum())
    reference_free -= reference_free[np.isfinite(reference_free)].min()
    mask = np.isfinite(result.free_energy) & np.isfinite(reference_free) & (reference_free < 5.0)
    weights0 = np.exp(-reference_free[mask])
    shift = np.average(result.free_energy[mask] - reference_free[mask], weights=weights0)
    deviation = result.free_energy[mask] - shift - reference_free[mask]

    z_all = np.concatenate(z_windows)
    angles_all = np.concatenate(angles_windows)
    w = result.frame_weights(z_all)
    regions_b = ramachandran.regions(angles_all[:, 0], angles_all[:, 1])
    regions_r = ramachandran.regions(angles_ref[:, 0], angles_ref[:, 1])
    reweighted = {name: float(w[regions_b == i].sum()) for i, name in enumerate(ramachandran.REGIONS)}
    reference_pop = {name: float(np.mean(regions_r == i)) for i, name in enumerate(ramachandran.REGIONS)}
    summary = {"bundle": os.path.abspath(a.bundle), "dimension": a.dimension, "windows": a.windows,
               "steps_per_window": a.steps, "kappa_kj_mol": kappa, "centers": centers.tolist(), "cpu_seconds": cpu,
               "implementation": force.getImplementationInContext(context),
               "free_energy": {"bin_centers": result.bin_centers.tolist(), "umbrella_kT": result.free_energy.tolist(),
                               "reference_kT": reference_free.tolist()},
               "bins_compared_below_5kT": int(mask.sum()),
               "rms_deviation_kT": float(np.sqrt(np.mean(deviation ** 2))) if mask.any() else None,
               "max_abs_deviation_kT": float(np.max(np.abs(deviation))) if mask.any() else None,
               "populations_reweighted": reweighted, "populations_reference": reference_pop}
    with open(os.path.join(a.out, "umbrella.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("F(z%d) umbrella vs reference over %d bins below 5 kT: rms %.2f kT, max %.2f kT" % (
        a.dimension, mask.sum(), summary["rms_deviation_kT"] or np.nan, summary["max_abs_deviation_kT"] or np.nan))
    for name in ramachandran.REGIONS:
        print("  %-8s reweighted %.4f   reference %.4f" % (name, reweighted[name], reference_pop[name]))
    plot(os.path.join(a.out, "umbrella.png"), a.dimension, result, reference_free, angles_ref, zd, angles_all, w)
    return 0


def plot(path, dimension, result, reference_free, angles_ref, zd, angles_all, weights):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    ax.plot(result.bin_centers, reference_free, "k-", label="plain MD reference, -ln P(z)")
    ax.plot(result.bin_centers, result.free_energy, "o", ms=3, label="umbrella + WHAM (VAECVForce)")
    ax.set(xlabel="z%d" % dimension, ylabel="F (kT)", ylim=(-0.5, 10), title="free energy along the latent")
    ax.legend(fontsize=8)
    ax = axes[1]
    sc = ax.scatter(angles_ref[:, 0], angles_ref[:, 1], c=zd, s=1, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="z%d" % dimension)
    ax.set(xlabel="phi (deg)", ylabel="psi (deg)", xlim=(-180, 180), ylim=(-180, 180),
           title="reference frames coloured by z%d" % dimension)
    ax = axes[2]
    _, f = ramachandran.free_energy_map(angles_all[:, 0], angles_all[:, 1], weights=weights)
    im = ax.imshow(f.T, origin="lower", extent=(-180, 180, -180, 180), vmax=8, cmap="magma_r", aspect="auto")
    fig.colorbar(im, ax=ax, label="F (kT)")
    ax.set(xlabel="phi (deg)", ylabel="psi (deg)", title="umbrella frames reweighted (WHAM)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
