"""Distributed sweep (issue 9): `openmm-vae sweep --workers 2` with one worker killed (SIGKILL) in the
middle of a job completes, finishes every job exactly once, leaves no claim behind and writes the same
table as a serial sweep with the same seeds (the killed job resumes from its checkpoint, which
reproduces an uninterrupted run). Then a stale claim of a dead process is taken over by a new sweep.

Usage: sweep_workers_test.py OPENMM_VAE
"""
import csv
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

EXE = sys.argv[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
SWEEP = ["sweep", "--system", "mueller", "--decoders", "mse,condind", "--replicas", "2", "--betas", "0.5,1",
         "--epochs", "4", "--anneal", "2", "--samples", "3000", "--hidden", "16", "--flow-hidden", "8", "--batch", "100",
         "--chains", "40", "--moves", "40", "--plot-samples", "50", "--no-plots", "--threads", "1", "--seed", "3"]


def table(path):
    with open(path) as f:
        return list(csv.reader(f))


def same_table(a, b):
    assert a[0] == b[0] and len(a) == len(b), (a, b)
    for ra, rb in zip(a[1:], b[1:]):
        for x, y in zip(ra, rb):
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                assert x == y, (ra, rb)
                continue
            assert abs(fx - fy) <= 1e-9 * (1 + abs(fx)), f"{ra}\n{rb}"


with tempfile.TemporaryDirectory() as tmp:
    serial = os.path.join(tmp, "serial")
    p = subprocess.run([EXE] + SWEEP + ["--out", serial], env=ENV, capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stdout + p.stderr

    par = os.path.join(tmp, "par")
    proc = subprocess.Popen([EXE] + SWEEP + ["--out", par, "--workers", "2"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        for claim in glob.glob(os.path.join(par, "*", "replica-*", "claim.json")):
            job = os.path.dirname(claim)
            # Mid-job: at least one epoch checkpointed, not done.
            if os.path.exists(os.path.join(job, "checkpoint.pt")) and not os.path.exists(os.path.join(job, "done.json")):
                try:
                    pid = json.load(open(claim))["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                os.kill(pid, signal.SIGKILL)
                killed = (pid, job)
                break
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=400)
    assert killed is not None, "no worker was caught in the middle of a job:\n" + out
    assert proc.returncode == 0, out
    print(f"killed worker {killed[0]} in {os.path.relpath(killed[1], par)}")
    assert f"worker {killed[0]} killed by signal 9" in out, out
    finished = re.findall(r"\[sweep\] job \d+/4 (\S+ replica-\d): finished", out)
    assert sorted(finished) == sorted({f for f in finished}) and len(finished) == 4, "each job once:\n" + out
    for job in glob.glob(os.path.join(par, "*", "replica-*")):
        assert os.path.exists(os.path.join(job, "done.json")), job
        assert not os.path.exists(os.path.join(job, "claim.json")), job
        assert not os.path.exists(os.path.join(job, "checkpoint.pt")), job
    same_table(table(os.path.join(serial, "table.csv")), table(os.path.join(par, "table.csv")))
    print("table of 2 workers with one killed == serial table")

    # A stale claim (its process gone) is taken over at once; a live one (this test's pid) is waited for.
    again = os.path.join(tmp, "again")
    short = [a for a in SWEEP]
    short[short.index("--decoders") + 1] = "mse"
    short[short.index("--replicas") + 1] = "1"
    job = os.path.join(again, "mse", "replica-0")
    os.makedirs(job)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(os.path.join(job, "claim.json"), "w") as f:
        json.dump({"host": os.uname().nodename, "pid": dead.pid, "started": 0}, f)
    p = subprocess.run([EXE] + short + ["--out", again], env=ENV, capture_output=True, text=True, timeout=200)
    assert p.returncode == 0 and os.path.exists(os.path.join(job, "done.json")), p.stdout + p.stderr
    os.remove(os.path.join(job, "done.json"))
    with open(os.path.join(job, "claim.json"), "w") as f:
        json.dump({"host": os.uname().nodename, "pid": os.getpid(), "started": 0}, f)
    p = subprocess.Popen([EXE] + short + ["--out", again, "--claim-timeout", "3"], env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    assert p.poll() is None and not os.path.exists(os.path.join(job, "done.json")), "a live claim was not respected"
    out, _ = p.communicate(timeout=200)  # the heartbeat-less claim goes stale after 3 s
    assert p.returncode == 0 and os.path.exists(os.path.join(job, "done.json")), out
print("OK")
