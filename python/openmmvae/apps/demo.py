"""The main job of openmm-vae, end to end on a particle on the Mueller surface, with no input files and no
knowledge of the answer: the pipeline of `openmmvae.apps.pipeline` (science.md section 7, "Honest cost
of a hybrid") on a 2-D system whose exact density is known.

    ./scripts/demo [--out demo] [--quick]          # (installs and builds first), or
    /usr/bin/python3 -m openmmvae.apps.demo --out demo [--quick]

1. data: plain Langevin dynamics of the particle from the deepest minimum, which stays in that basin;
2. train: a VAE on those frames (`openmm-vae train --data data.npy --features xy --decoder
   autoregressive --latent 1 --betas 1`);
3. enrich: well-tempered metadynamics along the VAE's own latent (`openmmvae.LatentMetadynamics`);
4. retrain: the VAE on the union of both sets of frames (the exact move needs no reweighting);
5. its latent-space metrics and f_acc (`openmm-vae metrics`);
6. VAE-MC + Langevin (`openmmvae.VAEMCIntegrator`) against plain Langevin dynamics of the same steps:
   basin changes, total variation to the exact density, CPU seconds (and what the model cost);
7. umbrella sampling along the learned latent with `openmmvae.VAECVForce` (one harmonic window after
   another, the window centre moved through its Context parameter, VAE-MC + Langevin in each), WHAM
   (`openmmvae.wham`), against the exact free energy along z (exp(-U) integrated over the plane);
8. writes into OUT: model.pt, metrics.json, summary.json, losses.csv and PNG figures (data_by_latent.png,
   latent_density.png, sampled_vs_exact.png, free_energy.png, enrichment.png).

--quick (used by the test suite) shrinks every stage so that the whole job takes seconds.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

import openmm
from openmm import unit

from .. import VAECVForce, VAEMCIntegrator
from ..wham import wham
from .mueller import (PLANE, START, exact_density, exact_free_energy_along_latent, kT, mueller_energy, mueller_system,
                     one_atom_topology)

TEMPERATURE = 300.0  # K; the bundle is in kT units, the System carries kT(300 K) * U

FULL = dict(data_steps=200000, enrich_steps=200000, frame_steps=10, epochs=20, anneal=5, chains=500, moves=100,
            md_steps=100000, steps_between_moves=10, windows=14, window_steps=30000, window_steps_between_moves=50,
            wham_bins=50)
QUICK = dict(data_steps=50000, enrich_steps=50000, frame_steps=10, epochs=4, anneal=1, chains=200, moves=50,
             md_steps=20000, steps_between_moves=10, windows=12, window_steps=12000, window_steps_between_moves=50,
             wham_bins=30)
FRICTION, STEP = 5.0 / unit.picosecond, 0.004 * unit.picoseconds  # the particle's Langevin dynamics


def log(message):
    print("[demo %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def find_trainer(explicit):
    """The openmm-vae command: --trainer, $OPENMMVAE_BUILD_DIR/bin, then PATH."""
    candidates = [explicit] if explicit else []
    if os.environ.get("OPENMMVAE_BUILD_DIR"):
        candidates.append(os.path.join(os.environ["OPENMMVAE_BUILD_DIR"], "bin", "openmm-vae"))
    candidates.append(shutil.which("openmm-vae"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("demo: the openmm-vae command was not found (build the project with ./scripts/setup, "
                     "or pass --trainer PATH)")


def run_command(command):
    """Runs a trainer command, its progress shown as it comes; a failure stops the demo."""
    log(" ".join(command))
    result = subprocess.run(command)
    if result.returncode != 0:
        raise SystemExit("demo: %s failed with exit status %d" % (command[1], result.returncode))


def cpu_seconds():
    """CPU seconds of this process and of the trainer commands it ran."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def langevin_frames(context, advance, frames):
    """(x, y) of the particle after each call of advance()."""
    out = []
    for _ in range(frames):
        advance()
        out.append(context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)[0, :2])
    return np.array(out)


def data_stage(settings, seed):
    """Plain Langevin dynamics from START: the training data a user without the answer would have."""
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
    context = new_context(mueller_system(TEMPERATURE), integrator, seed)
    stride = settings["frame_steps"]
    return langevin_frames(context, lambda: integrator.step(stride), settings["data_steps"] // stride)


def enrich_stage(model_path, xy_data, settings, seed):
    """Well-tempered metadynamics along the 1-D latent of the first VAE; returns its frames and the bias."""
    from openmm import app
    from ..metadynamics import LatentMetadynamics

    z, _ = latent_means(model_path, xy_data)
    low, high = np.percentile(z, [0.5, 99.5])
    width = high - low
    system = mueller_system(TEMPERATURE)
    meta = LatentMetadynamics(system, model_path, ([low - 3 * width], [high + 3 * width], [200], [False]),
                              sigma=[width / 20], height=0.5 * kT(TEMPERATURE), biasFactor=10.0,
                              temperature=TEMPERATURE, frequency=50)
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
    integrator.setRandomNumberSeed(seed + 1000)
    simulation = app.Simulation(one_atom_topology(), system, integrator, openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions([START])
    simulation.context.setVelocitiesToTemperature(TEMPERATURE * unit.kelvin, seed + 1000)
    stride = settings["frame_steps"]
    frames = langevin_frames(simulation.context, lambda: meta.step(simulation, stride), settings["enrich_steps"] // stride)
    return frames, meta


def basin_changes(xy):
    """How often a path crosses between the two deep basins (x < 0.25: the upper-left minima; else the
    lower-right one)."""
    basin = xy[:, 0] > 0.25
    return int(np.count_nonzero(basin[1:] != basin[:-1]))


def train_command(trainer, data_path, out, settings, seed):
    return [trainer, "train", "--data", data_path, "--features", "xy", "--atoms", "0", "--temperature", str(TEMPERATURE),
            "--decoder", "autoregressive", "--latent", "1", "--betas", "1", "--epochs", str(settings["epochs"]),
            "--anneal", str(settings["anneal"]), "--seed", str(seed), "--threads", "1", "--quiet", "--out", out]


def latent_means(model_path, xy):
    """Encoder means z [n] of points xy [n, 2] (the bundle's TorchScript latent_mean)."""
    import torch

    model = torch.jit.load(model_path, map_location="cpu")
    positions = torch.zeros((xy.shape[0], 1, 3), dtype=torch.float64)
    positions[:, 0, :2] = torch.from_numpy(xy)
    with torch.no_grad():
        return model.latent_mean(positions)[:, 0].numpy(), model


def new_context(system, integrator, seed):
    integrator.setRandomNumberSeed(seed)
    # The Reference platform: one particle, and OpenCL (PoCL) would be the default where installed.
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([START])
    context.setVelocitiesToTemperature(TEMPERATURE * unit.kelvin, seed)
    return context


def total_variation(counts, exact):
    """Half the L1 distance between a histogram (normalised here) and exact bin probabilities."""
    return 0.5 * float(np.abs(counts / counts.sum() - exact).sum())


def vae_mc_stage(model_path, settings, seed):
    """VAE-MC + Langevin against plain Langevin, same steps; histograms against the exact density."""
    system = mueller_system(TEMPERATURE)
    hybrid = VAEMCIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP, model_path,
                             stepsBetweenMoves=settings["steps_between_moves"], movesPerAttempt=1)
    hybrid.setMoveRandomNumberSeed(seed)
    plain = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
    results, cpu = {}, {}
    for name, integrator in (("vae_mc", hybrid), ("plain", plain)):
        context = new_context(system, integrator, seed)
        start = time.process_time()
        results[name] = langevin_frames(context, lambda: integrator.step(10), settings["md_steps"] // 10)
        cpu[name] = time.process_time() - start
        log("%s: %d steps in %.1f CPU s" % (name, settings["md_steps"], cpu[name]))
        del context
    (x0, x1), (y0, y1) = PLANE
    edges_x, edges_y = np.linspace(x0, x1, 41), np.linspace(y0, y1, 36)
    exact = exact_density(edges_x, edges_y, TEMPERATURE)
    summary = {"steps": settings["md_steps"], "steps_between_moves": settings["steps_between_moves"],
               "moves_attempted": hybrid.getNumAttempted(), "moves_accepted": hybrid.getNumAccepted(),
               "acceptance_rate": hybrid.getAcceptanceRate()}
    histograms = {}
    for name, xy in results.items():
        counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=(edges_x, edges_y))
        histograms[name] = counts
        summary["total_variation_" + name] = total_variation(counts, exact)
        summary["basin_changes_" + name] = basin_changes(xy)
        summary["cpu_seconds_" + name] = cpu[name]
    return summary, (edges_x, edges_y, exact, histograms)


def umbrella_stage(model_path, xy_data, z_data, settings, seed):
    """Umbrella windows along z with VAECVForce, WHAM, against the exact F(z).

    Each window starts from the data point whose z is nearest to its centre, and runs VAE-MC +
    Langevin (the VAEMCIntegrator's energy includes the bias, so its moves stay exact in every window):
    the latent of a VAE need not separate every barrier (the tail of one basin and another basin can
    share a z), and plain Langevin dynamics would stay on the side of such a hidden barrier where the
    previous window left it."""
    low, high = np.percentile(z_data, [0.5, 99.5])
    centers = np.linspace(low, high, settings["windows"])
    spacing = centers[1] - centers[0]
    kt = kT(TEMPERATURE)
    kappa = 2.0 * kt / spacing ** 2  # window width sqrt(kT/kappa) = spacing / sqrt(2): neighbours overlap
    system = mueller_system(TEMPERATURE)
    force = VAECVForce(model_path)
    force.useHarmonicRestraint([float(centers[0])], [kappa])
    system.addForce(force)
    integrator = VAEMCIntegrator(TEMPERATURE * unit.kelvin, 5.0 / unit.picosecond, 0.002 * unit.picoseconds,
                                 model_path, stepsBetweenMoves=settings["window_steps_between_moves"], movesPerAttempt=1)
    integrator.setMoveRandomNumberSeed(seed)
    context = new_context(system, integrator, seed)
    center_name = force.getCenterParameterName(0)
    z_windows = []
    start = time.process_time()
    for k, c in enumerate(centers):
        context.setParameter(center_name, float(c))
        nearest = xy_data[np.argmin(np.abs(z_data - c))]
        context.setPositions([openmm.Vec3(float(nearest[0]), float(nearest[1]), 0.0)])
        integrator.step(settings["window_steps"] // 5)  # equilibrate in the new window
        z = []
        for _ in range(settings["window_steps"] // 10):
            integrator.step(10)
            z.append(force.getCollectiveVariableValues(context)[0])
        z_windows.append(np.array(z))
        log("umbrella window %d/%d at z = %.3f: <z> = %.3f" % (k + 1, len(centers), c, np.mean(z)))
    cpu = time.process_time() - start
    edges = np.linspace(low - spacing, high + spacing, settings["wham_bins"] + 1)
    free = wham(z_windows, centers, kappa, kt, edges).free_energy
    exact = exact_free_energy_along_latent(model_path, edges, TEMPERATURE)
    # compare where both are defined and the exact F is below 6 kT (the well-sampled region); align
    # the two curves by their Boltzmann-weighted mean over that region
    mask = np.isfinite(free) & np.isfinite(exact) & (exact < 6.0)
    shift = np.average(free[mask] - exact[mask], weights=np.exp(-exact[mask])) if mask.any() else 0.0
    deviation = np.abs(free - shift - exact)[mask]
    summary = {"windows": len(centers), "steps_per_window": settings["window_steps"], "kappa_kj_mol": kappa,
               "moves_attempted": integrator.getNumAttempted(), "acceptance_rate": integrator.getAcceptanceRate(),
               "cpu_seconds": cpu, "bins_compared": int(mask.sum()),
               "max_abs_deviation_kT": float(deviation.max()) if mask.any() else None,
               "rms_deviation_kT": float(np.sqrt(np.mean(deviation ** 2))) if mask.any() else None}
    return summary, (edges, free - shift, exact, centers, z_windows)


def make_figures(out, xy_data, z_data, model, stage3, stage4, enrichment):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    paths = []
    (x0, x1), (y0, y1) = PLANE
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 175), indexing="ij")
    u = mueller_energy(gx, gy)
    levels = np.arange(u.min(), u.min() + 12, 1.5)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    sc = ax.scatter(xy_data[:, 0], xy_data[:, 1], c=z_data, s=2, cmap="viridis")
    ax.contour(gx, gy, u, levels=levels, colors="k", linewidths=0.4)
    fig.colorbar(sc, ax=ax, label="encoder mean z")
    ax.set(xlabel="x (nm)", ylabel="y (nm)", title="training frames coloured by the learned latent")
    paths.append(os.path.join(out, "data_by_latent.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(z_data, bins=80, density=True, alpha=0.6, label="aggregate posterior (encoder means)")
    zz = np.linspace(z_data.min() - 1, z_data.max() + 1, 400)
    with torch.no_grad():
        prior = model.prior_log_prob(torch.from_numpy(zz[:, None])).exp().numpy()
    ax.plot(zz, prior, "k-", label="flow prior P(z)")
    ax.set(xlabel="z", ylabel="density", title="P(z)")
    ax.legend()
    paths.append(os.path.join(out, "latent_density.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    edges_x, edges_y, exact, histograms = stage3
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    panels = [("exact exp(-U)", exact)] + [(name, h / h.sum()) for name, h in
                                           (("VAE-MC + Langevin", histograms["vae_mc"]),
                                            ("plain Langevin", histograms["plain"]))]
    vmax = exact.max()
    for ax, (title, p) in zip(axes, panels):
        ax.imshow(p.T, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", vmin=0, vmax=vmax, cmap="magma")
        ax.contour(gx, gy, u, levels=levels, colors="w", linewidths=0.3)
        ax.set(title=title, xlabel="x (nm)")
    axes[0].set_ylabel("y (nm)")
    paths.append(os.path.join(out, "sampled_vs_exact.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    data, enriched, meta = enrichment
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.contour(gx, gy, u, levels=levels, colors="k", linewidths=0.4)
    ax1.plot(data[:, 0], data[:, 1], ".", ms=1, color="tab:blue", label="plain Langevin (data)")
    ax1.plot(enriched[:, 0], enriched[:, 1], ".", ms=1, color="tab:red", alpha=0.5, label="metadynamics along z")
    ax1.set(xlabel="x (nm)", ylabel="y (nm)", title="training frames of the two VAEs")
    ax1.legend(markerscale=8)
    zz = meta.getGridPoints()[0]
    ax2.plot(zz, meta.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole) / kT(TEMPERATURE), "k-")
    ax2.set(xlabel="z of the first VAE", ylabel="F (kT)", title="metadynamics, %d hills" % meta.numHills)
    paths.append(os.path.join(out, "enrichment.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    edges, free, exact_free, centers, z_windows = stage4
    mids = 0.5 * (edges[1:] + edges[:-1])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for z in z_windows:
        ax1.hist(z, bins=40, histtype="step")
    ax1.set(ylabel="count", title="umbrella windows along z (VAECVForce)")
    ax2.plot(mids, exact_free, "k-", label="exact (exp(-U) integrated over the plane)")
    ax2.plot(mids, free, "o", ms=3, label="umbrella sampling + WHAM")
    ax2.set(xlabel="z", ylabel="F(z) (kT)", ylim=(-0.5, 10))
    ax2.legend()
    paths.append(os.path.join(out, "free_energy.png"))
    fig.savefig(paths[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="output folder (default: demo)")
    parser.add_argument("--quick", action="store_true", help="reduced settings (seconds)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trainer", help="path of the openmm-vae command (default: the build's, then PATH)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    trainer = find_trainer(args.trainer)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    begin = time.time()

    costs = {}

    log("1/7 data: %d steps of plain Langevin dynamics from the deepest minimum" % settings["data_steps"])
    start = cpu_seconds()
    xy_first = data_stage(settings, args.seed)
    costs["data"] = cpu_seconds() - start
    data_path = os.path.join(out, "data.npy")
    np.save(data_path, xy_first)
    log("data: %d frames, %d basin changes" % (len(xy_first), basin_changes(xy_first)))

    log("2/7 training a VAE (autoregressive decoder, L = 1, beta = 1) on them")
    start = cpu_seconds()
    first_dir = os.path.join(out, "train")
    run_command(train_command(trainer, data_path, first_dir, settings, args.seed))
    costs["train"] = cpu_seconds() - start

    log("3/7 enrich: %d steps of metadynamics along the VAE's latent" % settings["enrich_steps"])
    start = cpu_seconds()
    xy_enriched, meta = enrich_stage(os.path.join(first_dir, "beta-1", "model.pt"), xy_first, settings, args.seed)
    costs["enrich"] = cpu_seconds() - start
    log("metadynamics: %d hills, %d basin changes" % (meta.numHills, basin_changes(xy_enriched)))

    log("4/7 retraining the VAE on the union (%d frames)" % (len(xy_first) + len(xy_enriched)))
    start = cpu_seconds()
    xy_data = np.concatenate([xy_first, xy_enriched])
    union_path = os.path.join(out, "union.npy")
    np.save(union_path, xy_data)
    train_dir = os.path.join(out, "retrain")
    run_command(train_command(trainer, union_path, train_dir, settings, args.seed))
    costs["retrain"] = cpu_seconds() - start
    model_path = os.path.join(out, "model.pt")
    shutil.copyfile(os.path.join(train_dir, "beta-1", "model.pt"), model_path)
    shutil.copyfile(os.path.join(train_dir, "beta-1", "losses.csv"), os.path.join(out, "losses.csv"))

    log("5/7 latent-space metrics and f_acc (%d chains x %d moves)" % (settings["chains"], settings["moves"]))
    run_command([trainer, "metrics", model_path, "--system", "mueller", "--chains", str(settings["chains"]),
                 "--moves", str(settings["moves"]), "--seed", str(args.seed)])
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)

    log("6/7 VAE-MC + Langevin vs plain Langevin in OpenMM, %d steps each" % settings["md_steps"])
    mc_summary, stage3 = vae_mc_stage(model_path, settings, args.seed)
    mc_summary["model_cpu_seconds"] = costs
    log("acceptance %.3f; total variation to the exact density: VAE-MC %.3f, plain %.3f; basin changes %d vs %d; "
        "CPU s %.1f vs %.1f (the model: %.1f CPU s more)"
        % (mc_summary["acceptance_rate"], mc_summary["total_variation_vae_mc"], mc_summary["total_variation_plain"],
           mc_summary["basin_changes_vae_mc"], mc_summary["basin_changes_plain"], mc_summary["cpu_seconds_vae_mc"],
           mc_summary["cpu_seconds_plain"], sum(costs.values())))

    log("7/7 umbrella sampling along z with VAECVForce (%d windows)" % settings["windows"])
    z_data, model = latent_means(model_path, xy_data)
    us_summary, stage4 = umbrella_stage(model_path, xy_data, z_data, settings, args.seed)
    log("F(z) by WHAM vs exact over %d bins below 6 kT: max |dF| %.2f kT, rms %.2f kT"
        % (us_summary["bins_compared"], us_summary["max_abs_deviation_kT"] or float("nan"),
           us_summary["rms_deviation_kT"] or float("nan")))

    figures = make_figures(out, xy_data, z_data, model, stage3, stage4, (xy_first, xy_enriched, meta))
    summary = {"settings": settings, "quick": args.quick, "seed": args.seed, "model": model_path,
               "metrics": {k: metrics.get(k) for k in ("f_acc", "jd_encode", "active_dims", "jd_prior",
                                                       "total_correlation", "n_moves", "accepted")},
               "vae_mc_langevin": mc_summary, "umbrella": us_summary,
               "figures": [os.path.basename(p) for p in figures], "wall_seconds": time.time() - begin}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary["metrics"], indent=2))
    log("done in %.0f s: %s (model.pt, metrics.json, summary.json, %s)"
        % (summary["wall_seconds"], out, ", ".join(summary["figures"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
