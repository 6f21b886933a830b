#!/usr/bin/env bash
# openmm-vae metrics through the real command: a tiny trained bundle gives metrics.json with the
# documented keys and f_acc in [0, 1]; a missing model is a clear error with non-zero exit.
set -euo pipefail
cli="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cli" train --system gaussian --decoder condind --samples 2000 --betas 1 --epochs 2 --anneal 1 --quiet --out "$work/run"
"$cli" metrics "$work/run/beta-1/model.pt" --system gaussian --chains 50 --moves 50 > "$work/log"
/usr/bin/python3 - "$work/run/beta-1/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for key in ("jd_encode", "jd_encode_total", "active_dims", "jd_prior", "total_correlation", "f_acc", "n_moves"):
    assert key in m, key
assert isinstance(m["jd_encode"], list) and len(m["jd_encode"]) == 1
assert 0.0 <= m["f_acc"] <= 1.0 and m["n_moves"] == 2500, m
PY
if "$cli" metrics "$work/missing.pt" --system gaussian 2> "$work/err"; then
  echo "a missing model was accepted"; exit 1
fi
grep -q "missing.pt" "$work/err"
echo "metrics CLI: ok"
