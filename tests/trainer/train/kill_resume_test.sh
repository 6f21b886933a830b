#!/bin/bash
# Nothing lost on interruption: `openmm-vae train` killed with SIGKILL (and with SIGTERM) after its
# first checkpoint, then run again with --resume, ends with bundles whose every parameter and buffer
# is bit-identical to an uninterrupted run's, the same losses.csv, and no temporary file left beside
# a bundle. Usage: kill_resume_test.sh OPENMM_VAE PYTHON
set -u
set -m  # job control: background runs keep SIGINT (a non-interactive shell makes them ignore it)
BIN=$1
PY=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
# Mueller, beta 0 (main epochs + prior fit) then 1 (a continued stage): 14 epochs, each a few 100 ms.
ARGS=(train --system mueller --samples 6000 --decoder condind --betas 0,1 --epochs 5 --prior-epochs 4 --anneal 2
      --hidden 16 --batch 100 --threads 1 --seed 3 --quiet)

"$BIN" "${ARGS[@]}" --out "$T/ref" >"$T/ref.log" 2>&1 || { echo "FAIL uninterrupted run"; cat "$T/ref.log"; exit 1; }

# compare DIR: bundles of DIR and the reference agree bit for bit; so do the loss tables.
compare() {
    local dir=$1
    for b in 0 1; do
        if ! cmp -s "$T/ref/beta-$b/losses.csv" "$dir/beta-$b/losses.csv"; then
            echo "FAIL $dir: beta-$b/losses.csv differs"; diff "$T/ref/beta-$b/losses.csv" "$dir/beta-$b/losses.csv" | head; return 1
        fi
    done
    cmp -s "$T/ref/beta-0/prior_losses.csv" "$dir/beta-0/prior_losses.csv" || { echo "FAIL $dir: prior_losses.csv differs"; return 1; }
    "$PY" - "$T/ref" "$dir" <<'PYEOF' || return 1
import sys, torch
a_dir, b_dir = sys.argv[1], sys.argv[2]
for beta in ("0", "1"):
    a = torch.jit.load(a_dir + "/beta-" + beta + "/model.pt")
    b = torch.jit.load(b_dir + "/beta-" + beta + "/model.pt")
    ta = dict(list(a.named_parameters()) + list(a.named_buffers()))
    tb = dict(list(b.named_parameters()) + list(b.named_buffers()))
    assert ta.keys() == tb.keys(), (ta.keys(), tb.keys())
    assert len(ta) > 5, len(ta)
    for k in ta:
        if not torch.equal(ta[k], tb[k]):
            print("FAIL beta-%s: %s differs by up to %g" % (beta, k, (ta[k] - tb[k]).abs().max().item()))
            sys.exit(1)
PYEOF
    # Temporary files of the killed runs may remain (the kill came mid-write); the last run leaves none.
    if [ -n "$(find "$dir" -name "*.tmp-$2" 2>/dev/null)" ]; then
        echo "FAIL $dir: the resumed run left temporary files"; find "$dir" -name '*.tmp-*'; return 1
    fi
    [ ! -e "$dir/checkpoint.pt" ] || { echo "FAIL $dir: checkpoint.pt remains after the run completed"; return 1; }
}

# interrupt SIGNAL: start a run, kill it with SIGNAL once its first checkpoint exists, resume, compare.
interrupt() {
    local sig=$1 dir="$T/run-$1"
    "$BIN" "${ARGS[@]}" --out "$dir" >"$dir.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 3000); do
        [ -f "$dir/checkpoint.pt" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    if ! kill -"$sig" $pid 2>/dev/null; then
        echo "FAIL $sig: the run ended before it could be interrupted"; cat "$dir.log"; return 1
    fi
    wait $pid 2>/dev/null
    if [ -f "$dir/beta-1/model.pt" ]; then echo "FAIL $sig: the run had finished when killed"; return 1; fi
    local done_before
    done_before=$(cat "$dir"/beta-*/losses.csv 2>/dev/null | grep -c '^[0-9]')
    "$BIN" "${ARGS[@]}" --out "$dir" --resume >"$dir.resume.log" 2>&1 &
    local resumed=$!
    if ! wait $resumed; then
        echo "FAIL $sig: --resume failed"; cat "$dir.resume.log"; return 1
    fi
    grep -q "resumed at epoch" "$dir.resume.log" || { echo "FAIL $sig: the run did not resume from the checkpoint"; cat "$dir.resume.log"; return 1; }
    compare "$dir" $resumed || return 1
    echo "ok   $sig after $done_before main epoch(s): resumed run is bit-identical"
}

for sig in KILL TERM INT; do
    interrupt $sig || fails=$((fails + 1))
done
# A kill while the checkpoint is being replaced: keep killing at random moments, resume each time.
dir="$T/run-many"
for k in 1 2 3 4; do
    resume=()
    [ -f "$dir/checkpoint.pt" ] && resume=(--resume)
    "$BIN" "${ARGS[@]}" --out "$dir" "${resume[@]}" >"$dir.$k.log" 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
done
resume=()
[ -f "$dir/checkpoint.pt" ] && resume=(--resume)
"$BIN" "${ARGS[@]}" --out "$dir" "${resume[@]}" >"$dir.last.log" 2>&1 &
pid=$!
if wait $pid && compare "$dir" $pid; then
    echo "ok   four SIGKILLs at random moments, then a resume: bit-identical"
else
    echo "FAIL repeated SIGKILL"; cat "$dir.last.log"; fails=$((fails + 1))
fi
if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all interruption checks passed"
