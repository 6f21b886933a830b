#!/usr/bin/python3
"""f_acc of VAE Monte Carlo moves on alanine dipeptide by the paper's protocol, for BAT and Cartesian bundles.

The paper's protocol (science.md section 3): parallel pure-MC chains started from training
configurations; f_acc is the fraction of accepted moves. Here every chain is a VAEMCIntegrator
doing ``attemptMoves`` only (the project's single implementation of the move), with energies from an
OpenMM Context (AMBER99SB, vacuum, 300 K).

- BAT bundle (``--features bat --constraints hbonds``): the System has HBonds constraints, which the
  moves keep.
- Cartesian features: as science.md section 5 says, aligned Cartesian features give no exact move
  inside MD (the integrator refuses ``cartesian`` bundles), but the paper's f_acc is well defined as
  its protocol runs it: chains in the aligned frame, decoder density of those coordinates. This script
  therefore writes the training frames aligned (Kabsch, to the first frame) as ``aligned.npy``; a
  bundle trained on them with ``--features positions`` is exactly that. Its chains run on a System
  without constraints (the decoder does not know the X-H constraint lengths) and start from aligned
  training frames.

    # after openmmvae.apps.simulate --out ala-data and the two trainings printed by --prepare:
    /usr/bin/python3 examples/alanine_dipeptide/acceptance.py --data ala-data --prepare aligned
    /usr/bin/python3 examples/alanine_dipeptide/acceptance.py --data ala-data \\
        --bat bat/beta-1/model.pt --cartesian cart/beta-1/model.pt --chains 20 --moves 50
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

import openmm
import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide


def read_dcd(path):
    """Frames [n, atoms, 3] in nm of a DCD written by openmm.app.DCDFile (no unit cell)."""
    data = open(path, "rb").read()
    if struct.unpack("<i", data[:4])[0] != 84 or data[4:8] != b"CORD":
        raise ValueError("%s is not a DCD file" % path)
    has_cell = struct.unpack("<i", data[48:52])[0] == 1
    title_len = struct.unpack("<i", data[92:96])[0]
    offset = 92 + title_len + 8
    n_atoms = struct.unpack("<i", data[offset + 4:offset + 8])[0]
    offset += 12
    frame_bytes = (56 if has_cell else 0) + 3 * (4 * n_atoms + 8)
    n = (len(data) - offset) // frame_bytes
    frames = np.empty((n, n_atoms, 3))
    for f in range(n):
        base = offset + f * frame_bytes + (56 if has_cell else 0)
        for k in range(3):
            start = base + k * (4 * n_atoms + 8) + 4
            frames[f, :, k] = np.frombuffer(data, "<f4", n_atoms, start)
    return frames * 0.1  # Angstrom -> nm


def write_dcd(path, topology, frames, dt_ps=0.2):
    """Frames [n, atoms, 3] in nm as a DCD (openmm.app.DCDFile), written to a temporary file first so
    that an interrupted run leaves no partial `path`."""
    with open(path + ".tmp", "wb") as f:
        writer = openmm.app.DCDFile(f, topology, dt_ps * unit.picoseconds)
        for x in frames:
            writer.writeModel(x * unit.nanometer)
    os.replace(path + ".tmp", path)


def align(frames, reference):
    """Each frame rigidly moved onto `reference` (Kabsch, all atoms, equal weights)."""
    ref = reference - reference.mean(0)
    out = np.empty_like(frames)
    for i, x in enumerate(frames):
        c = x - x.mean(0)
        u, _, vt = np.linalg.svd(c.T @ ref)
        d = np.sign(np.linalg.det(u @ vt))
        rot = u @ np.diag([1.0, 1.0, d]) @ vt
        out[i] = c @ rot
    return out


def chains_f_acc(bundle, system, starts, moves, seed, move_probabilities=(1.0, 0.0)):
    """Pure VAE-MC chains (one Context, reused) from `starts`; returns accepted, attempted, term means and,
    per move kind (full, torsion), the same three."""
    integrator = openmmvae.VAEMCIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtoseconds, bundle, 1, 1)
    integrator.setMoveRandomNumberSeed(seed)
    integrator.setMoveProbabilities(*move_probabilities)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    for k, x in enumerate(starts):
        context.setPositions(x * unit.nanometer)
        if system.getNumConstraints():
            context.applyConstraints(1e-8)
        integrator.attemptMoves(moves)
        if (k + 1) % max(1, len(starts) // 20) == 0 or k + 1 == len(starts):
            sys.stderr.write("  chain %d/%d: %d/%d accepted\n" % (k + 1, len(starts), integrator.getNumAccepted(),
                                                                  integrator.getNumAttempted()))
    kinds = {}
    for kind in integrator.getMoveKindNames():
        if integrator.getNumAttempted(kind):
            kinds[kind] = {"f_acc": integrator.getAcceptanceRate(kind), "accepted": integrator.getNumAccepted(kind),
                           "attempted": integrator.getNumAttempted(kind),
                           "ln_alpha_term_means": dict(zip(integrator.getTermNames(), integrator.getTermMeans(kind)))}
    return (integrator.getNumAccepted(), integrator.getNumAttempted(),
            dict(zip(integrator.getTermNames(), integrator.getTermMeans())), kinds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="openmmvae.apps.simulate output folder (trajectory.dcd)")
    p.add_argument("--prepare", help="write the aligned frames to this folder (aligned.npy) and exit")
    p.add_argument("--frames", type=int, default=20000, help="frames kept by --prepare (evenly spaced)")
    p.add_argument("--bat", help="BAT bundle")
    p.add_argument("--cartesian", help="bundle trained on aligned.npy with --features positions")
    p.add_argument("--chains", type=int, default=20)
    p.add_argument("--moves", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--move-probabilities", default="1,0",
                   help="probabilities of full and torsion-only moves (BAT bundles), e.g. 0,1 for torsion moves only")
    p.add_argument("--out", default="acceptance.json")
    a = p.parse_args(argv)
    frames = read_dcd(os.path.join(a.data, "trajectory.dcd"))
    if a.prepare:
        os.makedirs(a.prepare, exist_ok=True)
        keep = frames[np.linspace(0, len(frames) - 1, min(a.frames, len(frames))).astype(int)]
        aligned = align(keep, keep[0]).reshape(len(keep), -1)
        np.save(os.path.join(a.prepare, "aligned.npy"), aligned)
        atoms = ",".join(str(i) for i in range(frames.shape[1]))
        print("wrote %s/aligned.npy %s; train the Cartesian bundle with\n  openmm-vae train --data %s/aligned.npy "
              "--features positions --atoms %s --temperature 300 ..." % (a.prepare, aligned.shape, a.prepare, atoms))
        return 0
    move_probabilities = tuple(float(v) for v in a.move_probabilities.split(","))
    if len(move_probabilities) != 2:
        p.error("--move-probabilities takes two numbers (full, torsion), got %r" % a.move_probabilities)
    rng = np.random.default_rng(a.seed)
    picks = rng.choice(len(frames), size=a.chains, replace=False)
    result = {"chains": a.chains, "moves_per_chain": a.moves, "protocol": "pure VAE-MC chains from training frames"}
    if a.bat:
        acc, att, terms, kinds = chains_f_acc(a.bat, alanine_dipeptide.create_system("hbonds"), frames[picks], a.moves,
                                              a.seed, move_probabilities)
        result["bat"] = {"f_acc": acc / att, "accepted": acc, "attempted": att, "ln_alpha_term_means": terms,
                         "move_probabilities": move_probabilities, "move_kinds": kinds}
    if a.cartesian:
        starts = align(frames[picks], frames[0])
        acc, att, terms, kinds = chains_f_acc(a.cartesian, alanine_dipeptide.create_system("none"), starts, a.moves, a.seed)
        result["cartesian"] = {"f_acc": acc / att, "accepted": acc, "attempted": att, "ln_alpha_term_means": terms}
    json.dump(result, open(a.out, "w"), indent=2)
    for kind in ("bat", "cartesian"):
        if kind in result:
            r = result[kind]
            print("%-9s f_acc %.4f (%d / %d)  mean ln alpha terms: %s" % (
                kind, r["f_acc"], r["accepted"], r["attempted"],
                ", ".join("%s %.1f" % kv for kv in r["ln_alpha_term_means"].items())))
            for name, k in r.get("move_kinds", {}).items():
                print("  %-7s moves: f_acc %.4f (%d / %d)" % (name, k["f_acc"], k["accepted"], k["attempted"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
