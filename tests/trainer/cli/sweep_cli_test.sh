#!/usr/bin/env bash
# openmm-vae sweep through the real command with tiny settings (2 decoders x 2 betas x 2 replicas):
# jobs spread over two shards, the table after each, a re-run that redoes nothing, the per-bundle
# files, the PNG figures (when /usr/bin/python3 can import matplotlib and openmmvae.apps.plots), and bad flags refused with exit 1.
set -euo pipefail
cli="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/sweep"
common=(--system gaussian --decoders mse,condind --betas 0,1 --replicas 2 --samples 600 --epochs 2 --anneal 1
        --prior-epochs 1 --chains 20 --moves 10 --threads 1 --plot-samples 100 --out "$out")

check_table() {  # expected replicas per row
  /usr/bin/python3 - "$out" "$1" <<'PY'
import csv, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(out + "/table.csv")))
assert [(r["decoder"], r["beta"]) for r in rows] == [("mse", "0"), ("mse", "1"), ("condind", "0"), ("condind", "1")], rows
for r in rows:
    assert int(r["replicas"]) == n, r
    for q in ("jd_encode_total", "active_dims", "jd_prior", "total_correlation", "f_acc", "loss_total"):
        assert r[q + "_mean"] != "", (q, r)
        assert (r[q + "_std"] != "") == (n > 1), (q, r)
    assert 0.0 <= float(r["f_acc_mean"]) <= 1.0, r
md = open(out + "/table.md").read().splitlines()
assert len(md) == 2 + len(rows) and md[0].startswith("| decoder | beta | n |"), md
PY
}

# Shard 0 of 2 runs jobs 0 and 2: replica 0 of each decoder.
"$cli" sweep "${common[@]}" --shard 0/2 --no-plots > "$work/log1"
grep -q "job 1/4 mse replica-0: finished" "$work/log1"
grep -q "job 3/4 condind replica-0: finished" "$work/log1"
if grep -q "replica-1" "$work/log1"; then echo "shard 0/2 ran a replica-1 job"; cat "$work/log1"; exit 1; fi
check_table 1

# Shard 1 of 2 completes the sweep (and plots).
"$cli" sweep "${common[@]}" --shard 1/2 > "$work/log2"
grep -q "job 2/4 mse replica-1: finished" "$work/log2"
check_table 2
for d in mse condind; do
  for r in 0 1; do
    test -f "$out/$d/replica-$r/done.json"
    for b in 0 1; do
      for f in model.pt losses.csv metrics.json data.npy latent_mean.npy; do test -s "$out/$d/replica-$r/beta-$b/$f"; done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
import numpy as np
out = sys.argv[1]
m = json.load(open(out + "/condind/replica-1/beta-1/metrics.json"))
assert [s["stage"] for s in m["stage_final_losses"]] == ["0", "1"], m["stage_final_losses"]
assert "prior_loss" in m["stage_final_losses"][0] and "prior_loss" not in m["stage_final_losses"][1]
data = np.load(out + "/condind/replica-1/beta-1/data.npy")
mu = np.load(out + "/condind/replica-1/beta-1/latent_mean.npy")
assert data.shape == (100, 2) and mu.shape == (100, 1), (data.shape, mu.shape)
assert np.isfinite(mu).all() and mu.std() > 0
PY

# A re-run redoes nothing: every job is skipped and the done markers keep their times.
before=$(stat -c %Y "$out"/*/replica-*/done.json "$out"/*/replica-*/beta-*/model.pt)
sleep 1
"$cli" sweep "${common[@]}" --no-plots > "$work/log3"
test "$(grep -c "done before, skipped" "$work/log3")" -eq 4
if grep -q "finished" "$work/log3"; then echo "a re-run redid a job"; cat "$work/log3"; exit 1; fi
test "$before" = "$(stat -c %Y "$out"/*/replica-*/done.json "$out"/*/replica-*/beta-*/model.pt)"

# Figures: valid PNG files when the plotter (python3 -m openmmvae.apps.plots; CTest puts the build
# tree's package on PYTHONPATH) can run.
if /usr/bin/python3 -c "import matplotlib, openmmvae.apps.plots" 2>/dev/null; then
  for f in metrics_vs_beta latent_histograms latent_colouring; do
    png="$out/figures/$f.png"
    test -s "$png" || { echo "missing $png"; cat "$work/log2"; exit 1; }
    test "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" || { echo "$png is not a PNG"; exit 1; }
  done
else
  echo "figures not checked: /usr/bin/python3 cannot import matplotlib and openmmvae.apps.plots"
fi

# The same folder with different settings is refused.
if "$cli" sweep --system gaussian --decoders mse,condind --betas 0,1 --replicas 2 --samples 600 --epochs 3 --anneal 1 \
    --prior-epochs 1 --chains 20 --moves 10 --threads 1 --plot-samples 100 --out "$out" --no-plots 2> "$work/err"; then
  echo "a sweep with other settings was accepted in the same folder"; exit 1
fi
grep -q "different settings" "$work/err"

# Bad flags: non-zero exit and a message naming the problem.
expect_error() {  # pattern, then the arguments
  local pattern="$1"; shift
  if "$cli" sweep "$@" > "$work/out" 2> "$work/err"; then echo "accepted: $*"; exit 1; fi
  grep -q -- "$pattern" "$work/err" || { echo "no '$pattern' in:"; cat "$work/err"; exit 1; }
}
expect_error "unknown decoder 'gru'" --system gaussian --decoders mse,gru --out "$work/bad"
expect_error "betas" --system gaussian --betas "" --out "$work/bad"
expect_error "listed twice" --system gaussian --decoders mse,mse --out "$work/bad"
expect_error "nosuch" --system nosuch --out "$work/bad"
expect_error "replicas" --system gaussian --replicas 0 --out "$work/bad"
expect_error "shard" --system gaussian --shard 2/2 --out "$work/bad"
expect_error "shard" --system gaussian --shard x --out "$work/bad"
expect_error "out" --system gaussian
test ! -e "$work/bad/mse"
echo "sweep CLI: ok"
