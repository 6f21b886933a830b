"""Data-parallel training (issue 9): `openmm-vae launch -n 2 -- train` against one rank, and bad input.

Usage: distributed_test.py OPENMM_VAE [equivalence|errors]

equivalence: 2 ranks (each batch cut into 2 pieces, one per rank) must give bit for bit the weights of
one process that runs both pieces itself (--micro-batches 2 alone, no rendezvous: with two pieces
the sums have one order), and the same bundle metadata. The same run with 1 piece per batch (different
reparameterisation noise) must differ by far more: the tolerance is able to fail.
errors: unreachable master, a missing rank, mismatched world sizes and a rank with a different seed
each end with a non-zero status and a message naming the problem, well inside the subprocess timeout.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import torch

EXE = sys.argv[1]
PART = sys.argv[2] if len(sys.argv) > 2 else "all"
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
    ENV.pop(k, None)
# Small, but every protocol part: beta 0 (fresh model, then the prior fit) and beta 1 (continued, annealed).
TRAIN = ["train", "--system", "mueller", "--samples", "3000", "--decoder", "autoregressive", "--hidden", "20",
         "--flow-hidden", "8", "--betas", "0,1", "--epochs", "2", "--anneal", "2", "--prior-epochs", "1",
         "--batch", "128", "--learning-rate", "1e-3", "--seed", "7", "--threads", "1"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, timeout=240, env=None):
    t0 = time.time()
    p = subprocess.run([EXE] + args, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    return p, time.time() - t0


def bundle(path):
    extra = {"metadata.json": ""}
    m = torch.jit.load(path, _extra_files=extra)
    meta = json.loads(extra["metadata.json"])
    meta["provenance"].pop("date")
    return {k: v.detach().clone() for k, v in m.named_parameters()}, meta


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def equivalence(tmp):
    one = os.path.join(tmp, "one")
    two = os.path.join(tmp, "two")
    plain = os.path.join(tmp, "plain")
    # --micro-batches alone: both pieces in this one process, no rendezvous (no RANK/WORLD_SIZE in ENV).
    p, s = run(TRAIN + ["--out", one, "--micro-batches", "2"])
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith("data parallel: rank 0 of 1") and "2 pieces" in first, p.stdout
    with open(f"{one}/beta-1/config.json") as f:
        assert json.load(f)["data_parallel"] == {"rank": 0, "world_size": 1, "micro_batches": 2,
                                                  "single_process": True}
    p, s2 = run(["launch", "-n", "2", "--"] + TRAIN + ["--out", two])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "beta-1] wrote" in p.stdout and p.stdout.count("wrote") == 2, "rank 0 alone reports: " + p.stdout
    assert p.stdout.splitlines()[0].startswith("data parallel: rank 0 of 2 (master 127.0.0.1:"), p.stdout
    with open(f"{two}/beta-1/config.json") as f:
        assert json.load(f)["data_parallel"] == {"rank": 0, "world_size": 2, "micro_batches": 2,
                                                  "single_process": False}
    p, _ = run(TRAIN + ["--out", plain, "--rank", "0", "--world-size", "1", "--master-port", str(free_port())])
    assert p.returncode == 0, p.stderr
    for beta in ("0", "1"):
        w1, m1 = bundle(f"{one}/beta-{beta}/model.pt")
        w2, m2 = bundle(f"{two}/beta-{beta}/model.pt")
        wp, _ = bundle(f"{plain}/beta-{beta}/model.pt")
        d = max_difference(w1, w2)
        scale = max(v.abs().max().item() for v in w1.values())
        other = max_difference(w1, wp)
        print(f"beta {beta}: max |w(2 ranks) - w(1 rank)| = {d:.3g} (weights up to {scale:.3g}); "
              f"1 piece per batch instead of 2: {other:.3g}")
        assert d == 0, f"beta {beta}: 2 ranks differ from 1 rank (2 pieces in one process) by {d}"
        assert other > 1e-4, f"beta {beta}: other noise should change the weights, max difference {other}"
        assert m1["provenance"].pop("data", None) == m2["provenance"].pop("data", None)
        assert m1 == m2, f"metadata differ:\n{m1}\n{m2}"
        l1 = open(f"{one}/beta-{beta}/losses.csv").read().splitlines()
        l2 = open(f"{two}/beta-{beta}/losses.csv").read().splitlines()
        assert len(l1) == len(l2) == 3, l1
        for a, b in zip(l1[1:], l2[1:]):
            va, vb = [float(x) for x in a.split(",")], [float(x) for x in b.split(",")]
            assert all(abs(x - y) <= 1e-5 * (1 + abs(x)) for x, y in zip(va, vb)), (a, b)
    assert not os.path.exists(f"{two}/checkpoint.pt"), "the finished run leaves no checkpoint"
    print(f"1 rank (2 pieces) {s:.1f} s, 2 ranks {s2:.1f} s")


def expect_failure(procs, words, limit):
    for p, what in procs:
        out, err = p.communicate(timeout=limit)
        assert p.returncode not in (0, None), f"{what}: exit status {p.returncode}\n{err}"
        assert all(w in err for w in words[what]), f"{what}: the message lacks {words[what]}:\n{err}"
        print(f"{what}: status {p.returncode}: {err.strip().splitlines()[-1]}")


def start(args, rank, world, port, timeout=5):
    cmd = [EXE] + args + ["--rank", str(rank), "--world-size", str(world), "--master-port", str(port),
                          "--dist-timeout", str(timeout)]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def errors(tmp):
    args = TRAIN + ["--out", os.path.join(tmp, "bad")]
    # Nobody listens on the port: a rank other than 0 gives up after --dist-timeout.
    t0 = time.time()
    p = start(args, 1, 2, free_port(), timeout=3)
    expect_failure([(p, "unreachable")], {"unreachable": ["rank 1", "cannot reach the master"]}, 60)
    assert time.time() - t0 < 30, time.time() - t0
    # Rank 0 alone: rank 1 never joins.
    t0 = time.time()
    p = start(args, 0, 2, free_port(), timeout=3)
    expect_failure([(p, "missing")], {"missing": ["rank 1 did not join within 3"]}, 60)
    assert time.time() - t0 < 30, time.time() - t0
    # World sizes 2 and 3: both name world_size.
    port = free_port()
    a, b = start(args, 0, 2, port), start(args, 1, 3, port)
    expect_failure([(a, "world 2"), (b, "world 3")], {"world 2": ["world_size: 3 vs 2"], "world 3": ["world_size: 2 vs 3"]}, 60)
    # Rank 1 with another seed.
    port = free_port()
    other = list(args)
    other[other.index("--seed") + 1] = "8"
    a, b = start(args, 0, 2, port), start(other, 1, 2, port)
    expect_failure([(a, "seed 7"), (b, "seed 8")], {"seed 7": ["different settings", "seed: 8 vs 7"],
                                                   "seed 8": ["different settings", "seed: 7 vs 8"]}, 60)
    # Rank out of range, micro-batches not a multiple of the world size: rejected before any connection.
    p, _ = run(args + ["--rank", "2", "--world-size", "2", "--master-port", "1"], timeout=30)
    assert p.returncode != 0 and "RANK (--rank) must be in 0..1" in p.stderr, p.stderr
    p, _ = run(args + ["--rank", "0", "--world-size", "2", "--master-port", "1", "--micro-batches", "3"], timeout=30)
    assert p.returncode != 0 and "--micro-batches 3" in p.stderr, p.stderr
    # launch stops the other rank when one fails (a bad flag on every rank here) and reports the status.
    bad = list(args)
    bad[bad.index("--decoder") + 1] = "nonsense"
    p, s = run(["launch", "-n", "2", "--"] + bad, timeout=60)
    assert p.returncode != 0 and "unknown decoder 'nonsense'" in p.stderr and "launch: rank" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(tmp, "bad", "beta-0", "model.pt"))


with tempfile.TemporaryDirectory() as tmp:
    if PART in ("equivalence", "all"):
        equivalence(tmp)
    if PART in ("errors", "all"):
        errors(tmp)
print("OK")
