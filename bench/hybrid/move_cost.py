#!/usr/bin/python3
"""CPU milliseconds per VAE-MC move on alanine dipeptide against the proposal batch size, in one process.

For each batch size K: a VAEMCIntegrator (BAT bundle) in a Context on the Reference platform; after a
warm-up, (a) `--moves` pure moves in one attemptMoves call, (b) `--rounds` rounds of
stepsBetweenMoves MD steps + 1 move (the hybrid pattern; the MD steps are timed separately with
moves off and subtracted). Ratios are against K = 1 in the same process. Prints a table and writes
JSON with --json. Bundles with native moves draw each proposal per move (K changes nothing there);
--torsion P makes a fraction P of the moves torsion moves (bat bundle, autoregressive decoder).

    /usr/bin/python3 bench/hybrid/move_cost.py --bundle /tmp/ala-bat-ar/beta-1/model.pt
"""
import argparse
import json
import sys
import time

import openmm
import openmmvae
from openmmvae.apps import alanine_dipeptide


def context_for(bundle, batch, steps_between, moves_per_attempt, seed, torsion=0.0):
    integrator = openmmvae.VAEMCIntegrator(300.0, 1.0, 0.002, bundle, steps_between, moves_per_attempt)
    integrator.setProposalBatchSize(batch)
    integrator.setMoveProbabilities(1.0 - torsion, torsion)
    integrator.setMoveRandomNumberSeed(seed)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(alanine_dipeptide.create_system("hbonds"), integrator,
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(alanine_dipeptide.build_positions())
    context.applyConstraints(1e-8)
    context.setVelocitiesToTemperature(300.0, seed)
    return integrator, context


def cpu(f):
    t = time.process_time()
    f()
    return time.process_time() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--batches", default="1,8,32,64")
    p.add_argument("--moves", type=int, default=256, help="pure moves per batch size (default 256)")
    p.add_argument("--rounds", type=int, default=128, help="MD + 1 move rounds per batch size (default 128)")
    p.add_argument("--steps-between-moves", type=int, default=20)
    p.add_argument("--torsion", type=float, default=0.0, help="fraction of torsion moves (default 0)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    # MD alone: the cost per step, to subtract from the rounds
    md, ctx = context_for(a.bundle, 1, 1000000, 0, 1)
    md.step(200)
    md_ms = 1e3 * cpu(lambda: md.step(a.rounds * a.steps_between_moves)) / (a.rounds * a.steps_between_moves)
    del ctx
    rows = []
    for k in [int(v) for v in a.batches.split(",")]:
        integrator, context = context_for(a.bundle, k, a.steps_between_moves, 1, 2, a.torsion)
        integrator.attemptMoves(2 * k)  # warm-up (TorchScript profiling runs, first batches)
        integrator.step(4 * a.steps_between_moves)
        pure = 1e3 * cpu(lambda: integrator.attemptMoves(a.moves)) / a.moves
        rounds = 1e3 * cpu(lambda: integrator.step(a.rounds * a.steps_between_moves)) / a.rounds
        rows.append({"batch": k, "pure_ms_per_move": pure, "hybrid_ms_per_move": rounds - a.steps_between_moves * md_ms,
                     "acceptance": integrator.getAcceptanceRate(),
                     "acceptance_by_kind": {kind: integrator.getAcceptanceRate(kind)
                                            for kind in openmmvae.VAEMCIntegrator.getMoveKindNames()}})
        sys.stderr.write("  K=%d done\n" % k)
    base = rows[0]
    print("MD step: %.4f ms (Reference platform)" % md_ms)
    print("| K | pure ms/move | vs K=%d | hybrid ms/move (MD subtracted) | vs K=%d |" % (base["batch"], base["batch"]))
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| %d | %.3f | %.1fx | %.3f | %.1fx |" % (r["batch"], r["pure_ms_per_move"], base["pure_ms_per_move"] / r["pure_ms_per_move"],
                                                     r["hybrid_ms_per_move"], base["hybrid_ms_per_move"] / r["hybrid_ms_per_move"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"md_ms_per_step": md_ms, "settings": vars(a), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
