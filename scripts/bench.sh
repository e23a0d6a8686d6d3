#!/usr/bin/env bash
# Benchmarks: each figure against a reference measured in the same run, as a ratio.
# Needs what scripts/test.sh installs (and installs GNU time). Prints one table; takes a few
# minutes and about 5 GiB of temporary disk (set BENCH_DIR to choose where).
#
#   scripts/bench.sh            everything
#   BENCH_TARGETS=10000 scripts/bench.sh    a smaller large-repository figure
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
if ! [ -x /usr/bin/time ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet
tk="$PWD/target/release/trustkey"
py=$(scripts/pyenv.sh)
ntargets=${BENCH_TARGETS:-100000}

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/trustkey-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TRUSTKEY_PIN=123456 TRUSTKEY_PKCS11_MODULE=softhsm TRUSTKEY_TRUST_DIR="$work/trust"
export TRUSTKEY_TARGETS_PASSPHRASE="bench targets pass" TRUSTKEY_SNAPSHOT_PASSPHRASE="bench snapshot pass"
export TRUSTKEY_TIMESTAMP_PASSPHRASE="bench timestamp pass"
scripts/softhsm.sh token "$work/hsm" benchroot >/dev/null
export SOFTHSM2_CONF="$work/hsm/softhsm2.conf"
"$tk" -q root create --token pkcs11:token=benchroot >/dev/null
"$tk" -q init bench.example/files --root pkcs11:token=benchroot >/dev/null
"$tk" -q init bench.example/large --root pkcs11:token=benchroot >/dev/null

# secs CMD...: wall-clock seconds of one run. rss CMD...: peak resident set in KiB.
secs() { /usr/bin/time -f %e -o "$work/t" "$@" >/dev/null 2>&1; cat "$work/t"; }
rss() { /usr/bin/time -f %M -o "$work/t" "$@" >/dev/null 2>&1; cat "$work/t"; }
# best of 3, to keep page-cache and scheduling noise out of the ratios
best() { local a b c; a=$(secs "$@"); b=$(secs "$@"); c=$(secs "$@"); printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -g | head -1; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s |' "$1" "$2" "$3" "$4" "$5")"); }

echo "bench: making test files in $work" >&2
head -c $((1 << 30)) /dev/urandom >"$work/1g.bin"
mkdir -p "$work/eight"
for i in 1 2 3 4 5 6 7 8; do head -c $((128 << 20)) /dev/urandom >"$work/eight/f$i.bin"; done
head -c $((2 << 30)) /dev/zero >"$work/2g.bin"

echo "bench: add of one 1 GiB file" >&2
ref=$(best openssl dgst -sha512 "$work/1g.bin")
fig=$(best "$tk" -q add bench.example/files one "$work/1g.bin")
row "add of one 1 GiB file (sha256 + sha512)" "${fig} s" "openssl dgst -sha512: ${ref} s" "$(ratio "$fig" "$ref")" "<= 1.1"

echo "bench: add of 8 files of 128 MiB" >&2
ref=$(best sh -c "for f in '$work'/eight/*.bin; do openssl dgst -sha512 \"\$f\"; done")
fig=$(best "$tk" -q add bench.example/files --dir "$work/eight")
row "add of 8 files of 128 MiB" "${fig} s" "openssl dgst -sha512, one by one: ${ref} s" "$(ratio "$fig" "$ref")" "<= 0.7"

echo "bench: peak memory of add of a 2 GiB file" >&2
mem=$(rss "$tk" -q add bench.example/files two "$work/2g.bin")
row "peak memory of add of a 2 GiB file" "$((mem / 1024)) MiB" "—" "—" "< 32 MiB"

echo "bench: $ntargets targets" >&2
python3 - "$work/many" "$ntargets" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"{i % 256:02x}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"t{i:06d}.txt"), "w") as f:
        f.write(f"target {i}\n")
PY
ref=$(secs "$py" scripts/bench_pytuf.py build "$work/many" "$work/pytuf")
add=$(secs "$tk" -q add bench.example/large --dir "$work/many")
pub=$(secs "$tk" -q publish bench.example/large --repo "$work/repo")
fig=$(python3 -c "print(f'{$add + $pub:.2f}')")
row "add + publish of $ntargets targets" "${fig} s" "python-tuf Metadata API, same targets: ${ref} s" "$(ratio "$ref" "$fig")x faster" ">= 20x faster"
# Where that time goes, each part against its floor measured here.
cat_ref=$(secs sh -c "find '$work/many' -type f -exec cat {} + >/dev/null")
row "of which add (hash $ntargets files)" "${add} s" "reading the same files with cat: ${cat_ref} s" "$(ratio "$add" "$cat_ref")" "—"
keys_ref=$(secs python3 - "$TRUSTKEY_TRUST_DIR" <<'PY'
import json, os, subprocess, sys
trust = sys.argv[1]
cfg = json.load(open(os.path.join(trust, "tuf/bench.example/large/trustkey.json")))
for role in ("targets", "snapshot", "timestamp"):
    pem = open(os.path.join(trust, "private", cfg["key_ids"][role] + ".key")).read()
    body = "".join(l + "\n" for l in pem.splitlines() if not l.startswith(("role:", "gun:")))
    env = dict(os.environ, P=os.environ[f"TRUSTKEY_{role.upper()}_PASSPHRASE"])
    subprocess.run(["openssl", "pkcs8", "-passin", "env:P", "-out", "/dev/null"],
                   input=body.encode(), env=env, check=True)
PY
)
row "of which publish (sign $ntargets targets)" "${pub} s" "openssl decrypting its 3 keys (PBKDF2, 1.3M iterations): ${keys_ref} s" "$(ratio "$pub" "$keys_ref")" "—"

ref=$(best "$py" scripts/bench_pytuf.py verify "$work/pytuf")
fig=$(best env TRUSTKEY_TRUST_DIR="$work/client" "$tk" -q verify bench.example/large --repo "$work/repo")
row "verify of that repository" "${fig} s" "python-tuf loading and verifying its own: ${ref} s" "$(ratio "$ref" "$fig")x faster" ">= 10x faster"

echo "bench: token signing (criterion)" >&2
cargo bench --quiet --bench signing -- --noplot >/dev/null 2>&1
est() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate']/1e3)" "target/criterion/token_sign/$1/new/estimates.json"; }
raw=$(est raw_c_sign); ours=$(est trustkey_signer)
row "1,000 signatures through SoftHSM, one session and login" "$(python3 -c "print(f'{$ours:.1f} µs/sig')")" "raw C_Sign loop: $(python3 -c "print(f'{$raw:.1f} µs/sig')")" "$(ratio "$ours" "$raw")" "<= 1.2"

echo "bench: hashed bins, ${BENCH_BIN_TARGETS:-1000000} targets in 1024 bins" >&2
while IFS= read -r line; do rows+=("$line"); done < <(cargo bench --quiet --bench bins 2>/dev/null | grep '^| ' | grep -v '^| figure')

echo
echo "trustkey $("$tk" --version | cut -d' ' -f2), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo
echo "| figure | trustkey | reference (same run) | ratio | goal |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}" | grep -v '^|---'
