"""VAE-MC from a structure alone, its cost counted: short MD -> VAE -> metadynamics along the VAE's own
latent -> VAE retrained on the union -> VAE-MC + MD production against plain MD (science.md sections 5
and 7, "Honest cost of a hybrid").

    /usr/bin/python3 -m openmmvae.apps.pipeline --out ala-vacuum [--solvent obc2] [--reference DIR] [--quick]

Stages, each logged with its CPU seconds in OUT/pipeline.json; a finished stage is skipped when the
command is run again (an interrupted training resumes at its checkpoint; other production settings
redo only the production, with the same model; a larger ``--enrich-rounds`` adds rounds):

1. ``data``: plain Langevin MD (300 K, 1/ps, 2 fs, Reference platform) of alanine dipeptide from its
   built structure (C7eq), ``--data-ns``, a frame every 0.2 ps;
2. ``train``: a VAE on those frames (autoregressive decoder, BAT features, rotors, L = 2, H = 300,
   beta = 1; ``openmmvae.train``);
3. ``enrich``: well-tempered metadynamics along that VAE's latent (``LatentMetadynamics``, the grid
   around the latents of the data), ``--enrich-ns``, a frame every 0.2 ps;
4. ``retrain``: the VAE again on the union of both sets of frames (the exact move needs no reweighting
   of its training data: the data only shape the proposal); with ``--enrich-rounds R`` > 1, stages
   3 and 4 are repeated along the latest VAE's latent (``enrich-2``, ``retrain-2``, ...), each
   retraining on all frames so far;
5. ``production``: ``--runs`` pairs of runs of ``--cpu-seconds`` each, plain Langevin MD and VAE-MC +
   Langevin (``VAEMCIntegrator``: ``--steps-between-moves`` steps, then ``--moves-per-round`` moves,
   a frame after every move), seeds 1..runs.

No dihedral or other hand-chosen coordinate enters the method: phi and psi are computed only to
measure it (``openmmvae.apps.ramachandran`` regions and cores) and to draw the figures.

Metrics per run (``openmmvae.apps.hybrid``): alpha_R <-> C7eq/C5 transitions per CPU second and
1 / (error^2 x CPU s) of the alpha_R population (20 block means), hybrid over plain MD; the same with
the hybrid charged the whole pipeline's CPU time (data + training + enrichment + retraining +
production); z-scores of every region against ``--reference`` (a long plain-MD run written by
``python3 -m openmmvae.apps.simulate``). Figures: ramachandran.png (data, enriched data, production),
free_energy_latent.png (F along the latent from the metadynamics), error_vs_cpu.png.
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
from openmm import unit

from . import alanine_dipeptide, hybrid

TEMPERATURE = alanine_dipeptide.TEMPERATURE
FRICTION, STEP = 1.0 / unit.picosecond, 0.002 * unit.picoseconds
FRAME_STEPS = 100  # 0.2 ps between saved frames

FULL = dict(data_ns=10.0, enrich_ns=4.0, enrich_rounds=1, epochs=40, retrain_epochs=60, runs=3, cpu_seconds=60.0)
QUICK = dict(data_ns=0.2, enrich_ns=0.1, enrich_rounds=1, epochs=2, retrain_epochs=2, runs=1, cpu_seconds=5.0)


def log(message):
    print("[pipeline %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


PRODUCTION_SETTINGS = ("runs", "cpu_seconds", "steps_between_moves", "moves_per_round", "torsion_moves")


class Record:
    """OUT/pipeline.json: the settings and, per finished stage, its CPU seconds and results. Other
    production settings in an existing folder redo only the production (the model is kept), more
    enrichment rounds add rounds to it; other settings of the model's stages are refused."""

    def __init__(self, out, settings):
        self.path = os.path.join(out, "pipeline.json")
        self.data = {"settings": settings, "stages": {}}
        if os.path.exists(self.path):
            with open(self.path) as f:
                saved = json.load(f)
            saved["settings"].setdefault("enrich_rounds", 1)  # folders made before the option
            changed = {k: (saved["settings"].get(k), v) for k, v in settings.items()
                       if k not in ("reference", "quiet") and saved["settings"].get(k) != v}
            # more enrichment rounds extend the model: the finished rounds are kept
            model_changes = {k: c for k, c in changed.items() if k not in PRODUCTION_SETTINGS
                             and not (k == "enrich_rounds" and c[1] > c[0])}
            if model_changes:
                raise SystemExit("pipeline: %s was made with other settings (%s); use another --out"
                                 % (self.path, ", ".join("%s %r -> %r" % (k, a, b) for k, (a, b) in model_changes.items())))
            self.data["stages"] = saved["stages"]
            if changed and "production" in self.data["stages"]:
                log("other settings (%s): the production runs again%s"
                    % (", ".join("%s %r -> %r" % (k, a, b) for k, (a, b) in changed.items()),
                       " after the new enrichment rounds" if "enrich_rounds" in changed else " with the same model"))
                del self.data["stages"]["production"]

    def done(self, stage):
        return stage in self.data["stages"]

    def stage(self, stage):
        return self.data["stages"][stage]

    def finish(self, stage, cpu_seconds, **results):
        self.data["stages"][stage] = dict(cpu_seconds=cpu_seconds, **results)
        self.save()
        log("%s done in %.1f CPU s" % (stage, cpu_seconds))

    def save(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.data, f, indent=2)
        os.replace(self.path + ".tmp", self.path)


def start_from_structure(context, seed):
    """The built structure (C7eq) with constraints applied and velocities drawn."""
    context.setPositions(alanine_dipeptide.build_positions() * unit.nanometer)
    context.applyConstraints(1e-8)
    context.setVelocitiesToTemperature(TEMPERATURE * unit.kelvin, seed)


def new_context(system, integrator, seed):
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    start_from_structure(context, seed)
    return context


def record_frames(context, advance, frames, label):
    """Positions (nm, [frames, atoms, 3]) after each call of advance(), progress every 10 s."""
    out = []
    shown = time.time()
    for k in range(frames):
        advance()
        out.append(context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))
        if time.time() - shown > 10:
            shown = time.time()
            log("  %s: frame %d / %d" % (label, k + 1, frames))
    return np.array(out)


def dihedrals(positions):
    """(phi, psi) in degrees of every frame: for measurement and figures only."""
    return np.array([alanine_dipeptide.phi_psi(p) for p in positions])


def frames_in(ns):
    """Saved frames of a run of `ns` nanoseconds (one every FRAME_STEPS steps)."""
    return int(round(ns * 1000 / (FRAME_STEPS * STEP.value_in_unit(unit.picoseconds))))


def stage_data(out, s):
    frames = frames_in(s["data_ns"])
    log("1/5 data: %.2f ns of plain MD (%d frames)" % (s["data_ns"], frames))
    start = time.process_time()
    system = alanine_dipeptide.create_system(solvent=s["solvent"])
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
    context = new_context(system, integrator, s["seed"])
    openmm.LocalEnergyMinimizer.minimize(context)
    integrator.step(5000)  # 10 ps of equilibration
    positions = record_frames(context, lambda: integrator.step(FRAME_STEPS), frames, "data")
    cpu = time.process_time() - start
    np.save(os.path.join(out, "data.npy"), positions)
    return cpu, {"frames": frames, "md_steps": frames * FRAME_STEPS + 5000}


def topology_pdb(out):
    """OUT/topology.pdb of the molecule (the trainer reads atoms, elements and bonds from it)."""
    from openmm import app
    path = os.path.join(out, "topology.pdb")
    if not os.path.exists(path):
        with open(path, "w") as f:
            app.PDBFile.writeFile(alanine_dipeptide.topology(), alanine_dipeptide.build_positions() * 10.0 * unit.angstrom, f)
    return path


def training_result(out, name, frames_path):
    """The TrainingResult of OUT/name, trained on the positions in frames_path."""
    from ..training import TrainingResult
    pdb = topology_pdb(out)
    return TrainingResult(os.path.join(out, name), ["1"], 1, ["--trajectory", frames_path],
                          (frames_path, pdb))


def train_stage(out, name, frames_path, epochs, s):
    """A VAE on the positions in frames_path, in OUT/name (openmmvae.train in this process; an interrupted
    run resumes at its checkpoint)."""
    from ..training import train
    folder = os.path.join(out, name)
    resume = os.path.exists(os.path.join(folder, "checkpoint.pt"))
    start = time.process_time()
    train(folder, trajectory=frames_path, topology=topology_pdb(out), decoder="autoregressive", features="bat",
          atoms="all", constraints="hbonds", temperature=TEMPERATURE, latent=2, hidden=300, betas=[1],
          epochs=epochs, anneal=max(1, epochs // 5), learning_rate=5e-4, threads=1, seed=s["seed"],
          resume=True if resume else None, progress=False if s["quiet"] else None)
    cpu = time.process_time() - start
    result = training_result(out, name, frames_path)
    losses = result.losses()
    return cpu, {"bundle": os.path.relpath(result.bundle(), out), "frames": len(np.load(frames_path, mmap_mode="r")),
                 "epochs": epochs, "final_loss": float(losses["total"][-1]), "final_validation_loss": float(losses["val_total"][-1])}


def latent_grid(result):
    """Metadynamics grid around the encoder means of the training data: their range (at least 0.5, for a
    latent dimension the model barely uses) widened by as much on each side, where configurations unlike
    the data map to (the walls beyond the grid keep the latent inside). Returns (mins, maxs, sizes,
    periodic, range)."""
    _, z = result.latents()
    low, high = np.percentile(z, 0.5, axis=0), np.percentile(z, 99.5, axis=0)
    span = np.maximum(high - low, 0.5)
    return [float(v) for v in low - span], [float(v) for v in high + span], [90] * z.shape[1], \
        [False] * z.shape[1], span


def stage_enrich(out, bundle, result, s, suffix=""):
    from .. import LatentGrid
    from ..metadynamics import LatentMetadynamics
    frames = frames_in(s["enrich_ns"])
    log("3/5 enrich: %.2f ns of metadynamics along the VAE's latent (%d frames)" % (s["enrich_ns"], frames))
    start = time.process_time()
    mins, maxs, sizes, periodic, span = latent_grid(result)
    grid = LatentGrid(mins, maxs, sizes, periodic)
    # walls of 20 kT one data range beyond the grid: steep walls on a latent whose gradient is large
    # make forces the 2 fs step cannot follow
    kt = (unit.MOLAR_GAS_CONSTANT_R * TEMPERATURE * unit.kelvin).value_in_unit(unit.kilojoule_per_mole)
    grid.setWallForceConstant(float(20 * kt / np.max(span) ** 2))
    system = alanine_dipeptide.create_system(solvent=s["solvent"])
    meta = LatentMetadynamics(system, bundle, grid, sigma=[float(w) / 20 for w in span],
                              height=1.0, biasFactor=8.0, temperature=TEMPERATURE, frequency=250)
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
    integrator.setRandomNumberSeed(s["seed"] + 1000)
    from openmm import app
    simulation = app.Simulation(alanine_dipeptide.topology(), system, integrator,
                                openmm.Platform.getPlatformByName("Reference"))
    start_from_structure(simulation.context, s["seed"] + 1000)
    positions = record_frames(simulation.context, lambda: meta.step(simulation, FRAME_STEPS), frames, "enrich")
    cpu = time.process_time() - start
    np.save(os.path.join(out, "enriched%s.npy" % suffix), positions)
    meta.saveBias(os.path.join(out, "bias%s.npz" % suffix))
    meta.plotFreeEnergy(os.path.join(out, "free_energy_latent%s.png" % suffix),
                        title="F along the latent of %s/ (metadynamics, %d hills)"
                        % (os.path.basename(os.path.dirname(os.path.dirname(bundle))), meta.numHills))
    return cpu, {"frames": frames, "hills": meta.numHills, "grid": {"mins": mins, "maxs": maxs, "sizes": sizes}}


def stage_production(out, bundle, s, reference):
    """--runs pairs of plain MD and VAE-MC + MD runs of --cpu-seconds each (seeds 1..runs)."""
    import openmmvae
    system = alanine_dipeptide.create_system(solvent=s["solvent"])
    runs, curves = [], []
    start = time.process_time()
    for r in range(s["runs"]):
        seed = r + 1
        log("5/5 production run %d/%d: plain MD, then VAE-MC + MD, %.0f CPU s each" % (r + 1, s["runs"], s["cpu_seconds"]))
        md = openmm.LangevinMiddleIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP)
        context = new_context(system, md, seed)
        md_frames = hybrid.run_for_cpu_seconds(context, md, s["cpu_seconds"], FRAME_STEPS, label="plain MD")
        del context
        vaemc = openmmvae.VAEMCIntegrator(TEMPERATURE * unit.kelvin, FRICTION, STEP, bundle, s["steps_between_moves"], 0)
        vaemc.setMoveRandomNumberSeed(seed)
        vaemc.setMoveProbabilities(1.0 - s["torsion_moves"], s["torsion_moves"])
        context = new_context(system, vaemc, seed)
        hybrid_frames = hybrid.run_for_cpu_seconds(context, vaemc, s["cpu_seconds"], s["steps_between_moves"],
                                                   moves_per_round=s["moves_per_round"], label="VAE-MC + MD")
        del context
        result = {"seed": seed, "md": hybrid.summarize("plain MD", md_frames, reference),
                  "hybrid": hybrid.summarize("VAE-MC + MD", hybrid_frames, reference)}
        result["hybrid"].update(moves_attempted=vaemc.getNumAttempted(), moves_accepted=vaemc.getNumAccepted(),
                                acceptance=vaemc.getAcceptanceRate())
        result["production_ratios"] = hybrid.efficiency_ratios(result["hybrid"], result["md"])
        runs.append(result)
        curves.append((hybrid.error_versus_cpu(md_frames), hybrid.error_versus_cpu(hybrid_frames)))
        np.save(os.path.join(out, "production-%d-hybrid.npy" % seed), np.stack([hybrid_frames.phi, hybrid_frames.psi], 1))
        np.save(os.path.join(out, "production-%d-md.npy" % seed), np.stack([md_frames.phi, md_frames.psi], 1))
        ratios = result["production_ratios"]
        log("run %d: acceptance %.3f; alpha_R transitions %d (hybrid) vs %d (MD); hybrid / MD: transitions per CPU s "
            "%s, 1/(error^2 CPU s) %s" % (seed, result["hybrid"]["acceptance"], result["hybrid"]["alpha_R_transitions"],
                                          result["md"]["alpha_R_transitions"],
                                          _number(ratios["alpha_R_transitions_per_cpu_second"]),
                                          _number(ratios["alpha_R_efficiency"])))
    return time.process_time() - start, runs, curves


def spread(values):
    """Mean, min and max over the runs whose value is defined (None where a ratio is undefined)."""
    defined = np.array([v for v in values if v is not None], dtype=float)
    stats = {"mean": float(defined.mean()), "min": float(defined.min()), "max": float(defined.max())} if defined.size \
        else {"mean": None, "min": None, "max": None}
    return dict(stats, values=[None if v is None else float(v) for v in values])


def make_figures(out, data_angles, enriched_angles, production_angles, curves):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, (title, a) in zip(axes, (("MD data", data_angles), ("metadynamics along the latent", enriched_angles),
                                     ("VAE-MC + MD production", production_angles))):
        ax.hist2d(a[:, 0], a[:, 1], bins=72, range=[[-180, 180], [-180, 180]], cmin=1, cmap="viridis",
                  norm=matplotlib.colors.LogNorm())
        ax.set(title="%s (%d frames)" % (title, len(a)), xlabel="phi (deg)")
    axes[0].set_ylabel("psi (deg)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ramachandran.png"), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for k, ((md_cpu, md_err), (h_cpu, h_err)) in enumerate(curves):
        ax.loglog(md_cpu, md_err, "o-", color="tab:gray", ms=3, label="plain MD" if k == 0 else None)
        ax.loglog(h_cpu, h_err, "o-", color="tab:red", ms=3, label="VAE-MC + MD" if k == 0 else None)
    ax.set(xlabel="CPU seconds", ylabel="standard error of the alpha_R population",
           title="population error versus CPU time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "error_vs_cpu.png"), dpi=90)
    plt.close(fig)


def model_stages(rounds):
    """The stages that make the model, in order: data, train, then per enrichment round r its
    metadynamics and retraining ("enrich", "retrain"; "enrich-2", "retrain-2", ... for r > 1)."""
    names = ["data", "train"]
    for r in range(1, rounds + 1):
        suffix = "" if r == 1 else "-%d" % r
        names += ["enrich" + suffix, "retrain" + suffix]
    return names


STAGES = tuple(model_stages(1)) + ("production",)  # the stages with one enrichment round


def run_pipeline(out, settings):
    os.makedirs(out, exist_ok=True)
    record = Record(out, settings)
    s = settings
    rounds = s["enrich_rounds"]
    reference = None
    if s.get("reference"):
        reference, n = hybrid.reference_populations(s["reference"])
        record.data["reference"] = {"folder": os.path.abspath(s["reference"]), "frames": n,
                                    "populations": {k: {"value": v, "error": e} for k, (v, e) in reference.items()}}
    if not record.done("data"):
        cpu, info = stage_data(out, s)
        record.finish("data", cpu, **info)
    data_path = os.path.join(out, "data.npy")
    if not record.done("train"):
        log("2/5 train: a VAE on the %d MD frames (%d epochs)" % (record.stage("data")["frames"], s["epochs"]))
        cpu, info = train_stage(out, "train", data_path, s["epochs"], s)
        record.finish("train", cpu, **info)
    # each round: metadynamics along the latest VAE's latent, then the VAE on all frames so far
    previous, frames_path = "train", data_path
    enriched_paths = []
    for r in range(1, rounds + 1):
        suffix = "" if r == 1 else "-%d" % r
        enrich, retrain = "enrich" + suffix, "retrain" + suffix
        enriched_path = os.path.join(out, "enriched%s.npy" % suffix)
        union_path = os.path.join(out, "union%s.npy" % suffix)
        if not record.done(enrich):
            cpu, info = stage_enrich(out, os.path.join(out, record.stage(previous)["bundle"]),
                                     training_result(out, previous, frames_path), s, suffix)
            record.finish(enrich, cpu, **info)
        enriched_paths.append(enriched_path)
        if not record.done(retrain):
            frames = np.concatenate([np.load(frames_path), np.load(enriched_path)])
            log("4/5 retrain%s: the VAE on all %d frames so far (%d epochs)" % (
                " (round %d)" % r if rounds > 1 else "", len(frames), s["retrain_epochs"]))
            np.save(union_path, frames)
            cpu, info = train_stage(out, retrain, union_path, s["retrain_epochs"], s)
            record.finish(retrain, cpu, **info)
        previous, frames_path = retrain, union_path
    bundle = os.path.join(out, record.stage(previous)["bundle"])
    made = sum(record.stage(k)["cpu_seconds"] for k in model_stages(rounds))
    if not record.done("production"):
        cpu, runs, curves = stage_production(out, bundle, s, reference)
        for run in runs:
            run["whole_pipeline_ratios"] = hybrid.efficiency_ratios(run["hybrid"], run["md"], extra_cpu_seconds=made)
        summary = {"model_cpu_seconds": made,
                   "production": {k: spread([r["production_ratios"][k] for r in runs]) for k in runs[0]["production_ratios"]},
                   "whole_pipeline": {k: spread([r["whole_pipeline_ratios"][k] for r in runs])
                                      for k in runs[0]["whole_pipeline_ratios"]},
                   "acceptance": spread([r["hybrid"]["acceptance"] for r in runs])}
        record.finish("production", cpu, runs=runs, summary=summary)
        data_angles = dihedrals(np.load(data_path))
        enriched_angles = dihedrals(np.concatenate([np.load(p) for p in enriched_paths]))
        production = np.concatenate([np.load(os.path.join(out, "production-%d-hybrid.npy" % r["seed"])) for r in runs])
        make_figures(out, data_angles, enriched_angles, production, curves)
    report(record)
    return record.data


def _number(value):
    return "n/a" if value is None else "%.2f" % value


def report(record):
    production = record.stage("production")
    summary = production["summary"]
    print("model: %.0f CPU s (%s)" % (summary["model_cpu_seconds"], ", ".join(
        "%s %.0f" % (k, record.stage(k)["cpu_seconds"]) for k in model_stages(record.data["settings"]["enrich_rounds"]))))
    for run in production["runs"]:
        h, m = run["hybrid"], run["md"]
        z = h.get("z_vs_reference")
        print("run %d: hybrid %d alpha_R transitions in %.0f CPU s (acceptance %.3f), MD %d in %.0f; alpha_R %.4f +- %.4f "
              "(hybrid) vs %.4f +- %.4f (MD)%s" % (
                  run["seed"], h["alpha_R_transitions"], h["cpu_seconds"], h["acceptance"], m["alpha_R_transitions"],
                  m["cpu_seconds"], h["populations"]["alpha_R"]["value"], h["populations"]["alpha_R"]["error"],
                  m["populations"]["alpha_R"]["value"], m["populations"]["alpha_R"]["error"],
                  "; z hybrid " + ", ".join("%s %+.1f" % kv for kv in z.items()) if z else ""))
    for name, key in (("production", "production"), ("whole pipeline", "whole_pipeline")):
        for metric, v in summary[key].items():
            print("hybrid / MD, %s, %s: %s (runs: %s)" % (name, metric, _number(v["mean"]),
                                                           ", ".join(_number(x) for x in v["values"])))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m openmmvae.apps.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (a finished stage there is not run again)")
    p.add_argument("--solvent", choices=alanine_dipeptide.SOLVENTS, default="vacuum")
    p.add_argument("--reference", help="long plain-MD run (python3 -m openmmvae.apps.simulate --out DIR) for z-scores")
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke test (about a minute)")
    for key, value in FULL.items():
        p.add_argument("--" + key.replace("_", "-"), type=type(value), help="default %r (--quick: %r)" % (value, QUICK[key]))
    p.add_argument("--steps-between-moves", type=int, default=10, help="Langevin steps per round (default 10)")
    p.add_argument("--moves-per-round", type=int, default=100, help="VAE moves per round (default 100)")
    p.add_argument("--torsion-moves", type=float, default=0.0,
                   help="probability of a torsion-only move instead of a full one (default 0)")
    p.add_argument("--seed", type=int, default=1, help="seed of the data, enrichment and training (default 1)")
    p.add_argument("--quiet", action="store_true", help="no training progress lines")
    a = p.parse_args(argv)
    settings = dict(QUICK if a.quick else FULL)
    settings.update({k: getattr(a, k) for k in FULL if getattr(a, k) is not None})
    settings.update(solvent=a.solvent, steps_between_moves=a.steps_between_moves, moves_per_round=a.moves_per_round,
                    torsion_moves=a.torsion_moves, seed=a.seed, quiet=a.quiet, reference=a.reference)
    if not 0.0 <= a.torsion_moves <= 1.0 or a.steps_between_moves < 1 or a.moves_per_round < 1:
        p.error("--torsion-moves must be in [0, 1], --steps-between-moves and --moves-per-round >= 1")
    for key in FULL:
        if not settings[key] > 0:
            p.error("--%s must be positive" % key.replace("_", "-"))
    run_pipeline(os.path.abspath(a.out), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
