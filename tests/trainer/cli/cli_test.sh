#!/bin/bash
# Command-line checks of `openmm-vae train`: help, config files, error messages, exit codes, and that a
# failed run leaves no bundle. Usage: cli_test.sh OPENMM_VAE PYTHON
set -u
BIN=$1
PY=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

# expect_fail NAME EXPECTED-TEXT ARGS...: non-zero exit, message on stderr, no model.pt under $T/out-NAME
expect_fail() {
    local name=$1 text=$2
    shift 2
    "$BIN" "$@" >"$T/$name.out" 2>"$T/$name.err"
    local rc=$?
    if [ $rc -eq 0 ]; then echo "FAIL $name: exit code 0"; fails=$((fails + 1)); return; fi
    if ! grep -qF -- "$text" "$T/$name.err"; then
        echo "FAIL $name: stderr lacks '$text':"; cat "$T/$name.err"; fails=$((fails + 1)); return
    fi
    if [ -n "$(find "$T" -name model.pt 2>/dev/null)" ]; then echo "FAIL $name: a model.pt was written"; fails=$((fails + 1)); return; fi
    echo "ok   $name (exit $rc): $(head -c 160 "$T/$name.err" | tr '\n' ' ')"
}

# --help
if "$BIN" train --help >"$T/help" 2>&1 && grep -q -- "--system" "$T/help" && grep -q -- "--decoder" "$T/help"; then
    echo "ok   help"
else
    echo "FAIL help"; cat "$T/help"; fails=$((fails + 1))
fi

"$PY" - "$T" <<'PYEOF'
import sys
import numpy as np
t = sys.argv[1]
np.save(t + "/int.npy", np.zeros((10, 2), dtype=np.int64))
np.save(t + "/3d.npy", np.zeros((10, 2, 3)))
a = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
a[7, 1] = np.nan
np.save(t + "/nan.npy", a)
np.save(t + "/good.npy", np.abs(np.random.default_rng(1).normal(size=(400, 2))))
np.save(t + "/three.npy", np.random.default_rng(1).normal(size=(400, 3)))
PYEOF

printf '{"system": "gaussian", "epochs": 1,' >"$T/broken.json"
printf '{"system": "gaussian", "epoch": 1}' >"$T/unknown.json"
printf '{"system": "gaussian", "epochs": "many"}' >"$T/badvalue.json"
printf 'system = "gaussian"\nepochs = [1\n' >"$T/broken.toml"
touch "$T/afile"

expect_fail malformed-json "malformed JSON" train --config "$T/broken.json" --out "$T/out-a"
expect_fail unknown-key "unknown key 'epoch'" train --config "$T/unknown.json" --out "$T/out-b"
expect_fail bad-value "epochs" train --config "$T/badvalue.json" --out "$T/out-c"
expect_fail missing-config "config" train --config "$T/nothere.json" --out "$T/out-d"
expect_fail unknown-system "unknown system 'muller'" train --system muller --out "$T/out-e"
expect_fail unknown-decoder "unknown decoder 'lstm'" train --system gaussian --decoder lstm --out "$T/out-f"
expect_fail mixture-decoder "--mixture 3 needs --decoder autoregressive" train --system gaussian --mixture 3 --out "$T/out-f"
expect_fail mixture-zero "--mixture must be at least 1, got 0" train --system gaussian --decoder autoregressive --mixture 0 --out "$T/out-f"
expect_fail npy-dtype "dtype '<i8'" train --data "$T/int.npy" --out "$T/out-g"
expect_fail npy-shape "not two-dimensional" train --data "$T/3d.npy" --out "$T/out-h"
expect_fail npy-nan "row 7" train --data "$T/nan.npy" --out "$T/out-i"
expect_fail npy-columns "need 2 columns" train --data "$T/three.npy" --features xy --out "$T/out-j"
expect_fail npy-columns-default "need 2 columns, the data have 3 (--features was not given: xy is the default for --data)" train --data "$T/three.npy" --out "$T/out-j"
expect_fail periodic-range "periodic column 3" train --data "$T/good.npy" --periodic 0,3 --out "$T/out-k"
expect_fail unwritable "cannot write to the output folder" train --system gaussian --out "$T/afile/sub"
expect_fail no-source "--system" train --out "$T/out-l"
expect_fail bad-beta "'x' is not a number" train --system gaussian --betas 0,x --out "$T/out-m"
expect_fail no-subcommand "subcommand" --system gaussian
expect_fail resume-nothing "no checkpoint" train --system gaussian --resume --out "$T/out-resume" --samples 100
expect_fail samples "--samples" train --system gaussian --samples 1 --out "$T/out-n"

# A config file plus a flag that overrides it; the fixed output layout; Python reads the bundle.
printf '{"system": "gaussian", "decoder": "condind", "samples": 1000, "epochs": 5, "betas": [0, 1], "prior_epochs": 1, "hidden": 8, "quiet": true}' >"$T/good.json"
if "$BIN" train --config "$T/good.json" --epochs 2 --out "$T/run" >"$T/run.out" 2>&1 &&
    [ -f "$T/run/beta-0/model.pt" ] && [ -f "$T/run/beta-1/model.pt" ] && [ -f "$T/run/beta-1/losses.csv" ] &&
    [ -f "$T/run/beta-1/config.json" ] && [ "$(wc -l <"$T/run/beta-1/losses.csv")" -eq 3 ] &&
    grep -q '"decoder": "condind"' "$T/run/beta-1/config.json"; then
    echo "ok   config+flags run"
else
    echo "FAIL config+flags run"; cat "$T/run.out"; ls -R "$T/run"; fails=$((fails + 1))
fi
printf 'system = "gaussian"\nsamples = 1000\nepochs = 1\nbetas = ["1"]\nhidden = 8\nquiet = true\n' >"$T/good.toml"
if "$BIN" train --config "$T/good.toml" --out "$T/run-toml" >"$T/toml.out" 2>&1 && [ -f "$T/run-toml/beta-1/model.pt" ]; then
    echo "ok   toml config"
else
    echo "FAIL toml config"; cat "$T/toml.out"; fails=$((fails + 1))
fi
if "$BIN" train --data "$T/good.npy" --features polar --betas 1 --epochs 1 --hidden 8 --temperature 300 --quiet --out "$T/run-npy" >"$T/npy.out" 2>&1 &&
    "$PY" -c "
import json, sys, torch
extra = {'metadata.json': ''}
m = torch.jit.load(sys.argv[1], _extra_files=extra)
meta = json.loads(extra['metadata.json'])
assert meta['features']['kind'] == 'polar' and meta['features']['periodic'] == [False, True], meta
assert meta['temperature'] == 300 and meta['atoms'] == [0] and meta['latent'] == 1, meta
z = m.to(torch.float64)(torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64))
assert z.shape == (1,), z.shape
" "$T/run-npy/beta-1/model.pt"; then
    echo "ok   npy polar run + python load"
else
    echo "FAIL npy polar run"; cat "$T/npy.out"; fails=$((fails + 1))
fi
if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all CLI checks passed"
