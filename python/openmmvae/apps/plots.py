"""PNG figures of an `openmm-vae sweep` output folder (matplotlib; the command uses the Agg backend: no display needed).

    /usr/bin/python3 -m openmmvae.apps.plots sweep OUT [--dpi 80] [--replica 0]

reads OUT/sweep.json, OUT/table.csv and, beside every bundle OUT/<decoder>/replica-<r>/beta-<b>/,
data.npy (a subsample of the data set, raw features) and latent_mean.npy (the encoder means of those
rows), and writes into OUT/figures/:

- metrics_vs_beta.png: JD_encode, active dimensions, JD_prior, total correlation, f_acc and the final
  training loss versus beta, one line per decoder, error bars = standard deviation over replicas;
- latent_histograms.png: P(z), the histogram of the encoder means, per decoder (rows) and beta
  (columns), one outline per replica (L = 1; for L = 2 a 2-D histogram of one replica);
- latent_colouring.png: the data coloured by the first latent mean, per decoder and beta (one replica;
  (r, theta) data are drawn in the (x, y) plane).

`python3 -m openmmvae.apps.plots summary OUT` prints, per bundle, the number of latent populations (modes
of the histogram of the encoder means, L = 1) and |Spearman correlation| of z0 with the radius.

`openmm-vae sweep` runs `python3 -m openmmvae.apps.plots sweep OUT` at its end. The module itself
imports only numpy and matplotlib (no OpenMM objects are needed to draw a sweep).
"""

import argparse
import csv
import json
import math
import os
import sys

import numpy as np

import matplotlib

import matplotlib.pyplot as plt  # the backend: Agg in main(); an importer's own (a notebook's) otherwise

METRICS = [
    ("jd_encode_total", "JD_encode (total)", True),
    ("active_dims", "active dimensions", False),
    ("jd_prior", "JD_prior", False),
    ("total_correlation", "total correlation", False),
    ("f_acc", "f_acc", False),
    ("loss_total", "final objective recon + beta KL (nats)", False),
]


def _number(text):
    return float(text) if text not in ("", None) else math.nan


def read_table(path):
    """Rows of table.csv as dicts: decoder, beta (str), replicas (int), and <q>_mean / <q>_std floats."""
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            parsed = {"decoder": row["decoder"], "beta": row["beta"], "replicas": int(row["replicas"])}
            for key, value in row.items():
                if key.endswith("_mean") or key.endswith("_std"):
                    parsed[key] = _number(value)
            rows.append(parsed)
    return rows


def _bundle_dir(out, decoder, replica, beta):
    return os.path.join(out, decoder, "replica-%d" % replica, "beta-%s" % beta)


def _load_latents(out, decoder, replica, beta):
    """data.npy and latent_mean.npy of a bundle of a finished job (its done.json exists), else (None, None)."""
    d = _bundle_dir(out, decoder, replica, beta)
    data, mu = os.path.join(d, "data.npy"), os.path.join(d, "latent_mean.npy")
    done = os.path.join(out, decoder, "replica-%d" % replica, "done.json")
    if not (os.path.exists(data) and os.path.exists(mu) and os.path.exists(done)):
        return None, None
    return np.load(data), np.load(mu)


def _plane(system, data):
    """(x, y) of the data for drawing: (r, theta) features are converted."""
    if system.endswith("rtheta"):
        return data[:, 0] * np.cos(data[:, 1]), data[:, 0] * np.sin(data[:, 1])
    return data[:, 0], data[:, 1]


def plot_metrics_vs_beta(settings, rows, path, dpi):
    decoders, betas = settings["decoders"], [str(b) for b in settings["betas"]]
    x = np.array([float(b) for b in betas])
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5))
    for ax, (key, label, log) in zip(axes.flat, METRICS):
        for k, decoder in enumerate(decoders):
            mean = np.array([next((r[key + "_mean"] for r in rows if r["decoder"] == decoder and r["beta"] == b),
                                  math.nan) for b in betas])
            std = np.array([next((r[key + "_std"] for r in rows if r["decoder"] == decoder and r["beta"] == b),
                                 math.nan) for b in betas])
            std = np.where(np.isfinite(std), std, 0.0)
            # On the log axis the lower bar stops at 10 % of the mean (mean - std may be <= 0).
            yerr = np.stack([np.minimum(std, 0.9 * np.abs(mean)), std]) if log else std
            # Small horizontal offsets keep overlapping error bars apart.
            ax.errorbar(x + (k - (len(decoders) - 1) / 2) * 0.08, mean, yerr=yerr, marker="o", ms=4, capsize=3,
                        label=decoder)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("beta")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("%s: mean and standard deviation over %d replicas" % (settings["system"], settings["replicas"]))
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _plot_panels(settings, path, dpi, row_height, title, draw):
    """A decoders x betas grid of panels, draw(ax, decoder, beta) in each, labelled by beta (columns)
    and decoder (rows)."""
    decoders, betas = settings["decoders"], [str(b) for b in settings["betas"]]
    fig, axes = plt.subplots(len(decoders), len(betas), figsize=(2.3 * len(betas), row_height * len(decoders)),
                             squeeze=False)
    for i, decoder in enumerate(decoders):
        for j, beta in enumerate(betas):
            ax = axes[i][j]
            draw(ax, decoder, beta)
            if i == 0:
                ax.set_title("beta %s" % beta, fontsize=9)
            if j == 0:
                ax.set_ylabel(decoder, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_latent_histograms(settings, out, path, dpi):
    def draw(ax, decoder, beta):
        for r in range(settings["replicas"]):
            _, mu = _load_latents(out, decoder, r, beta)
            if mu is None:
                continue
            if mu.shape[1] == 1:
                ax.hist(mu[:, 0], bins=60, histtype="step", density=True)
            else:
                ax.hist2d(mu[:, 0], mu[:, 1], bins=50, cmap="viridis")
                break
        ax.tick_params(labelsize=6)

    _plot_panels(settings, path, dpi, 1.9, "%s: P(z), histogram of the encoder means (one outline per replica)"
                 % settings["system"], draw)


def plot_latent_colouring(settings, out, path, dpi, replica=0):
    def draw(ax, decoder, beta):
        data, mu = _load_latents(out, decoder, replica, beta)
        if data is not None:
            x, y = _plane(settings["system"], data)
            # Colour range: 2 standard deviations of the means, at least +-1 (the prior's scale),
            # so that an unused latent (nearly constant means) shows as one colour.
            z = mu[:, 0]
            half = 2.0 * max(float(np.std(z)), 0.5)
            centre = float(np.mean(z))
            ax.scatter(x, y, c=z, s=1.5, cmap="coolwarm", vmin=centre - half, vmax=centre + half,
                       rasterized=True, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])

    _plot_panels(settings, path, dpi, 2.2, "%s: data coloured by the latent mean z0 (replica %d)"
                 % (settings["system"], replica), draw)


def count_populations(z, bins=80, smooth=1.5, min_height=0.05, dip=0.7):
    """Number of separated populations (modes) of 1-D latent means z: peaks of a Gaussian-smoothed
    histogram (range 0.5 to 99.5 percentile) higher than min_height of the highest, where two
    neighbouring peaks count once unless the histogram between them falls below dip x the lower one."""
    z = np.asarray(z, dtype=float).ravel()
    lo, hi = np.percentile(z, [0.5, 99.5])
    if not hi > lo:
        return 1
    hist, _ = np.histogram(z, bins=bins, range=(lo, hi))
    k = np.arange(-int(4 * smooth), int(4 * smooth) + 1)
    kernel = np.exp(-0.5 * (k / smooth) ** 2)
    h = np.convolve(np.pad(hist.astype(float), len(k) // 2), kernel / kernel.sum(), mode="valid")
    peaks = [i for i in range(len(h)) if h[i] >= min_height * h.max() and (i == 0 or h[i] > h[i - 1]) and
             (i == len(h) - 1 or h[i] >= h[i + 1])]
    kept = []
    for i in peaks:
        if kept and h[kept[-1]:i + 1].min() > dip * min(h[kept[-1]], h[i]):
            if h[i] > h[kept[-1]]:
                kept[-1] = i  # the same population: keep its higher peak
            continue
        kept.append(i)
    return len(kept)


def radial_correlation(system, data, z):
    """|Spearman rank correlation| between the first latent mean and the radius r of the data (r = |(x, y)|)."""
    r = data[:, 0] if system.endswith("rtheta") else np.hypot(data[:, 0], data[:, 1])
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)
    a, b = ranks(r), ranks(np.asarray(z)[:, 0])
    a -= a.mean()
    b -= b.mean()
    return float(abs((a * b).sum()) / math.sqrt((a * a).sum() * (b * b).sum()))


def summarize_sweep(out):
    """Per decoder, beta and replica: latent populations (L = 1) and |corr(z0, r)|, from the .npy files."""
    with open(os.path.join(out, "sweep.json")) as f:
        settings = json.load(f)
    rows = []
    for decoder in settings["decoders"]:
        for beta in [str(b) for b in settings["betas"]]:
            for r in range(settings["replicas"]):
                data, mu = _load_latents(out, decoder, r, beta)
                if mu is None:
                    continue
                rows.append({"decoder": decoder, "beta": beta, "replica": r,
                             "populations": count_populations(mu[:, 0]) if mu.shape[1] == 1 else None,
                             "radial_correlation": radial_correlation(settings["system"], data, mu)})
    return rows


def plot_sweep(out, dpi=80, replica=0):
    """Writes the three figures into OUT/figures and returns their paths."""
    settings_path, table_path = os.path.join(out, "sweep.json"), os.path.join(out, "table.csv")
    for p in (settings_path, table_path):
        if not os.path.exists(p):
            raise FileNotFoundError("%s does not exist: is %s the output folder of openmm-vae sweep?" % (p, out))
    with open(settings_path) as f:
        settings = json.load(f)
    rows = read_table(table_path)
    figures = os.path.join(out, "figures")
    os.makedirs(figures, exist_ok=True)
    paths = [os.path.join(figures, name) for name in
             ("metrics_vs_beta.png", "latent_histograms.png", "latent_colouring.png")]
    plot_metrics_vs_beta(settings, rows, paths[0], dpi)
    plot_latent_histograms(settings, out, paths[1], dpi)
    plot_latent_colouring(settings, out, paths[2], dpi, replica)
    return paths


def main(argv=None):
    plt.switch_backend("Agg")  # files only, no display needed
    parser = argparse.ArgumentParser(prog="python3 -m openmmvae.apps.plots", description="PNG figures of openmm-vae outputs")
    sub = parser.add_subparsers(dest="command", required=True)
    sweep = sub.add_parser("sweep", help="figures of an openmm-vae sweep output folder")
    sweep.add_argument("out", help="the sweep's --out folder")
    sweep.add_argument("--dpi", type=int, default=80)
    sweep.add_argument("--replica", type=int, default=0, help="replica drawn in latent_colouring.png")
    summary = sub.add_parser("summary", help="latent populations and |corr(z0, r)| per bundle of a sweep (CSV)")
    summary.add_argument("out", help="the sweep's --out folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            print("decoder,beta,replica,populations,radial_correlation")
            for row in summarize_sweep(args.out):
                print("%s,%s,%d,%s,%.4f" % (row["decoder"], row["beta"], row["replica"],
                                            "" if row["populations"] is None else row["populations"],
                                            row["radial_correlation"]))
            return 0
        paths = plot_sweep(args.out, args.dpi, args.replica)
    except (OSError, ValueError, KeyError) as e:
        print("openmmvae.apps.plots: error: %s" % e, file=sys.stderr)
        return 1
    for p in paths:
        print("wrote %s" % p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
