#!/usr/bin/env bash
# openmm-vae info and upgrade: a format-2 bundle described as running without LibTorch, a damaged copy
# refused with exit 1 and the member named, a format-1 bundle upgraded (its CV checked by the command
# itself) into one that runs without LibTorch.
#   info_cli_test.sh OPENMM_VAE DATA_DIR
set -euo pipefail
tool=$1 data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "info_cli_test: $*"; exit 1; }

out=$("$tool" info "$data/ala-bat-shuffled-hbonds.pt")
echo "$out"
for expected in "format version: 2" "integrity record: verified" "atoms: 22" "features: bat, 48" "latent: 2" \
                "decoder condind" "native CV (Reference/CPU without TorchScript, GPU kernels): yes" \
                "native VAE-MC densities: yes" "runs without LibTorch (OPENMMVAE_WITH_TORCH=OFF): yes"; do
  grep -qF "$expected" <<<"$out" || fail "info does not say '$expected'"
done

# one byte of the native data changed: refused, naming the member
cp "$data/mueller-xy-condind.pt" "$work/damaged.pt"
offset=$(/usr/bin/python3 -c "
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1]); i = [m for m in z.infolist() if m.filename.endswith('extra/native.bin')][0]
print(i.header_offset + 30 + len(i.filename) + len(i.extra) + 100)" "$work/damaged.pt")
printf '\x5a' | dd of="$work/damaged.pt" bs=1 seek="$offset" conv=notrunc status=none
if "$tool" info "$work/damaged.pt" > "$work/damaged.log" 2>&1; then fail "a damaged bundle was described"; fi
cat "$work/damaged.log"
grep -q "native.bin" "$work/damaged.log" || fail "the damaged member is not named"

out=$("$tool" info "$data/legacy-8b398d5-ala-bat.pt")
grep -qF "integrity record: none" <<<"$out" || fail "info of a format-1 bundle does not say it has no integrity record"
grep -qF "runs without LibTorch (OPENMMVAE_WITH_TORCH=OFF): no" <<<"$out" || fail "info of a format-1 bundle says it runs without LibTorch"
"$tool" upgrade "$data/legacy-8b398d5-ala-bat.pt" "$work/upgraded.pt" > "$work/upgrade.log"
grep -qF "runs without LibTorch (OPENMMVAE_WITH_TORCH=OFF): yes" "$work/upgrade.log" || fail "the upgraded bundle does not run without LibTorch"
if "$tool" upgrade "$work/missing.pt" "$work/x.pt" 2>/dev/null; then fail "upgrade of a missing file succeeded"; fi
echo "info_cli_test: passed"
