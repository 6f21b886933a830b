#!/usr/bin/python3
"""The alanine dipeptide results of the paper (science.md section 6), measured with openmm-vae.

For BAT and Cartesian features, every decoder and latent size, trains the paper's beta chain
(0, 1, 2, 5, 10) with ``openmm-vae train``, computes the latent-space metrics of every bundle with
``openmm-vae metrics`` (JD_encode per dimension, active dimensions, total correlation, JD_prior) and
f_acc by the paper's protocol (pure VAE-MC chains from training frames, ``acceptance.chains_f_acc``:
the VAEMCIntegrator's move with OpenMM energies) at the betas of ``--facc-betas``. Writes
``table.csv``, ``table.md``, ``results.json`` and ``reproduce.png`` (JD_encode, total correlation and
f_acc against beta) into ``--out``. Finished runs and metrics are reused, so an interrupted run
continues where it stopped.

Cartesian features are, as in the paper, the 66 coordinates after removing rigid translation and
rotation (Kabsch fit to the first frame): the bundle is trained with ``--features positions`` on the
aligned frames, which is what the paper's f_acc protocol moves (see acceptance.py and science.md
section 5 for why the integrator itself refuses aligned Cartesian bundles).

    /usr/bin/python3 examples/alanine_dipeptide/reproduce.py --data ala-data --out repro     # reduced
    /usr/bin/python3 examples/alanine_dipeptide/reproduce.py --data ala-data --out repro --paper
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

import openmm
import openmm.app
from openmmvae.apps import alanine_dipeptide

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acceptance import align, chains_f_acc, read_dcd, write_dcd  # noqa: E402

REDUCED = dict(frames=20000, epochs=10, anneal=3, prior_epochs=20, learning_rate=5e-4)
PAPER = dict(frames=100000, epochs=300, anneal=40, prior_epochs=100, learning_rate=1e-4)


def log(message):
    print("[reproduce %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def trainer_command(explicit):
    import shutil
    for candidate in (explicit, os.path.join(os.environ.get("OPENMMVAE_BUILD_DIR", ""), "bin", "openmm-vae"),
                      shutil.which("openmm-vae")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("reproduce: the openmm-vae command was not found (--trainer PATH)")


def prepare(data, out, frames_kept):
    """The training subset: evenly spaced frames as subset.dcd (BAT training) and aligned.npy (Cartesian)."""
    frames = read_dcd(os.path.join(data, "trajectory.dcd"))
    keep = frames[np.linspace(0, len(frames) - 1, min(frames_kept, len(frames))).astype(int)]
    dcd = os.path.join(out, "subset.dcd")
    aligned_path = os.path.join(out, "aligned.npy")
    if not (os.path.exists(dcd) and os.path.exists(aligned_path)):
        write_dcd(dcd, openmm.app.PDBFile(os.path.join(data, "topology.pdb")).topology, keep)
        np.save(aligned_path + ".tmp.npy", align(keep, keep[0]).reshape(len(keep), -1))
        os.replace(aligned_path + ".tmp.npy", aligned_path)
    return keep, np.load(aligned_path).reshape(len(keep), -1, 3)


def train(trainer, kind, decoder, latent, betas, settings, data, out, run_dir, seed):
    betas_done = all(os.path.exists(os.path.join(run_dir, "beta-%s" % b, "model.pt")) for b in betas)
    if betas_done:
        return
    if kind == "bat":
        data_args = ["--trajectory", os.path.join(out, "subset.dcd"), "--topology", os.path.join(data, "topology.pdb"),
                     "--features", "bat", "--atoms", "all", "--constraints", "hbonds"]
    else:
        data_args = ["--data", os.path.join(out, "aligned.npy"), "--features", "positions",
                     "--atoms", ",".join(str(i) for i in range(22))]
    command = [trainer, "train"] + data_args + [
        "--temperature", "300", "--decoder", decoder, "--latent", str(latent), "--hidden", "300",
        "--betas", ",".join(betas), "--epochs", str(settings["epochs"]), "--anneal", str(settings["anneal"]),
        "--prior-epochs", str(settings["prior_epochs"]), "--learning-rate", str(settings["learning_rate"]),
        "--seed", str(seed), "--threads", "1", "--quiet", "--out", run_dir]
    if os.path.exists(run_dir):
        command.append("--resume")
    log(" ".join(command))
    start = time.time()
    result = subprocess.run(command)
    if result.returncode != 0:
        raise SystemExit("reproduce: training %s failed (exit %d)" % (run_dir, result.returncode))
    log("trained %s in %.0f s" % (run_dir, time.time() - start))


def metrics(trainer, model, features_npy):
    path = os.path.join(os.path.dirname(model), "metrics.json")
    if not os.path.exists(path):
        command = [trainer, "metrics", model, "--data", features_npy, "--moves", "0", "--out", path]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit("reproduce: %s failed: %s" % (" ".join(command), result.stderr[-2000:]))
    with open(path) as f:
        return json.load(f)


def bat_features(model, frames, path):
    """The bundle's raw BAT features of the training frames (what `metrics --data` reads)."""
    import torch
    if not os.path.exists(path):
        bundle = torch.jit.load(model, map_location="cpu")
        with torch.no_grad():
            x = torch.cat([bundle.featurize(torch.from_numpy(frames[i:i + 4096]).double())[0]
                           for i in range(0, len(frames), 4096)])
        np.save(path, x.numpy())
    return path


def f_acc(model, kind, starts, moves, seed, cache):
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    system = alanine_dipeptide.create_system("hbonds" if kind == "bat" else "none")
    accepted, attempted, terms = chains_f_acc(model, system, starts, moves, seed)
    result = {"f_acc": accepted / attempted, "accepted": accepted, "attempted": attempted, "term_means": terms}
    with open(cache, "w") as f:
        json.dump(result, f)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="openmmvae.apps.simulate output (trajectory.dcd, topology.pdb)")
    p.add_argument("--out", default="repro")
    p.add_argument("--paper", action="store_true", help="the paper's settings (10^5 frames, 300 epochs/beta, lr 1e-4)")
    p.add_argument("--frames", type=int, help="training frames (default: 20000, paper 100000)")
    p.add_argument("--epochs", type=int, help="epochs per beta (default: 10, paper 300)")
    p.add_argument("--features", default="bat,cartesian")
    p.add_argument("--decoders", default="mse,condind,autoregressive,flow")
    p.add_argument("--betas", default="0,1,2,5,10")
    p.add_argument("--latents", default="2", help="latent sizes for every decoder")
    p.add_argument("--extra-latent", default="4:autoregressive", help="L:decoder,... also trained (total correlation, active dims)")
    p.add_argument("--facc-betas", default="1", help="betas whose bundles get f_acc (each costs chains x moves VAE-MC moves)")
    p.add_argument("--chains", type=int, default=20)
    p.add_argument("--moves", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--trainer", help="openmm-vae command (default: $OPENMMVAE_BUILD_DIR/bin, then PATH)")
    a = p.parse_args(argv)
    settings = dict(PAPER if a.paper else REDUCED)
    if a.frames:
        settings["frames"] = a.frames
    if a.epochs:
        settings["epochs"] = a.epochs
    trainer = trainer_command(a.trainer)
    os.makedirs(a.out, exist_ok=True)
    betas = a.betas.split(",")
    facc_betas = set(a.facc_betas.split(",")) if a.facc_betas else set()
    kinds = a.features.split(",")
    runs = [(kind, d, int(L)) for kind in kinds for L in a.latents.split(",") for d in a.decoders.split(",")]
    for item in filter(None, a.extra_latent.split(",")):
        L, d = item.split(":")
        runs += [(kind, d, int(L)) for kind in kinds if (kind, d, int(L)) not in runs]

    log("preparing %d training frames" % settings["frames"])
    frames, aligned = prepare(a.data, a.out, settings["frames"])
    rng = np.random.default_rng(a.seed)
    picks = rng.choice(len(frames), size=a.chains, replace=False)
    rows = []
    for n, (kind, decoder, latent) in enumerate(runs):
        run_dir = os.path.join(a.out, "runs", "%s-%s-L%d" % (kind, decoder, latent))
        log("run %d/%d: %s features, %s decoder, L = %d" % (n + 1, len(runs), kind, decoder, latent))
        train(trainer, kind, decoder, latent, betas, settings, a.data, a.out, run_dir, a.seed)
        for beta in betas:
            model = os.path.join(run_dir, "beta-%s" % beta, "model.pt")
            if kind == "bat":
                features = bat_features(model, frames, os.path.join(run_dir, "bat_features.npy"))
            else:
                features = os.path.join(a.out, "aligned.npy")
            m = metrics(trainer, model, features)
            row = {"features": "cartesian" if kind != "bat" else "bat", "decoder": decoder, "latent": latent,
                   "beta": float(beta), "jd_encode_total": m["jd_encode_total"],
                   "jd_encode": m["jd_encode"], "active_dims": m["active_dims"],
                   "total_correlation": m["total_correlation"], "jd_prior": m["jd_prior"], "f_acc": None}
            if beta in facc_betas and latent == int(a.latents.split(",")[0]):
                starts = frames[picks] if kind == "bat" else aligned[picks]
                r = f_acc(model, kind, starts, a.moves, a.seed, os.path.join(os.path.dirname(model), "f_acc.json"))
                row["f_acc"] = r["f_acc"]
            rows.append(row)
            log("  beta %-3s JD_encode %s (total %.3g), active %d, TC %.3f, f_acc %s" % (
                beta, ", ".join("%.3g" % v for v in row["jd_encode"]), row["jd_encode_total"], row["active_dims"],
                row["total_correlation"], "%.4f" % row["f_acc"] if row["f_acc"] is not None else "-"))
    write_tables(a.out, rows, settings, a)
    plot(os.path.join(a.out, "reproduce.png"), rows)
    return 0


def write_tables(out, rows, settings, a):
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"settings": settings, "chains": a.chains, "moves": a.moves, "seed": a.seed, "rows": rows}, f, indent=2)
    keys = ["features", "decoder", "latent", "beta", "jd_encode_total", "active_dims", "total_correlation", "jd_prior", "f_acc"]
    with open(os.path.join(out, "table.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("| features | decoder | L | beta | JD_encode (per dim) | active | TC | JD_prior | f_acc |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %s | %d | %g | %s | %d | %.3f | %.3f | %s |\n" % (
                r["features"], r["decoder"], r["latent"], r["beta"], ", ".join("%.3g" % v for v in r["jd_encode"]),
                r["active_dims"], r["total_correlation"], r["jd_prior"],
                "%.4f" % r["f_acc"] if r["f_acc"] is not None else "-"))


def plot(path, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    series = sorted({(r["features"], r["decoder"], r["latent"]) for r in rows})
    for kind, decoder, latent in series:
        sel = sorted((r for r in rows if (r["features"], r["decoder"], r["latent"]) == (kind, decoder, latent)),
                     key=lambda r: r["beta"])
        b = [r["beta"] for r in sel]
        style = "-" if kind == "bat" else "--"
        label = "%s %s L=%d" % (kind, decoder, latent)
        axes[0].plot(b, [max(r["jd_encode_total"], 1e-4) for r in sel], style, marker="o", ms=3, label=label)
        axes[1].plot(b, [r["total_correlation"] for r in sel], style, marker="o", ms=3, label=label)
    axes[0].set(yscale="log", xlabel="beta", ylabel="JD_encode (sum over dims)", title="JD_encode vs beta")
    axes[1].set(xlabel="beta", ylabel="total correlation (nats)", title="total correlation vs beta")
    facc = [r for r in rows if r["f_acc"] is not None]
    labels = ["%s\n%s b=%g" % (r["features"], r["decoder"], r["beta"]) for r in facc]
    axes[2].bar(range(len(facc)), [r["f_acc"] for r in facc],
                color=["C0" if r["features"] == "bat" else "C3" for r in facc])
    axes[2].set_xticks(range(len(facc)), labels, fontsize=6, rotation=90)
    axes[2].set(ylabel="f_acc", title="f_acc (blue: BAT, red: Cartesian)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
