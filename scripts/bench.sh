#!/usr/bin/env bash
# Benchmarks: each figure against a reference measured in the same run, as a ratio: openssl for
# hashing, and the tools a user would pick instead for the same work (the notary client against
# a local notary-server, tuftool from awslabs/tough, python-tuf). Needs what scripts/test.sh
# installs (and installs GNU time). Prints one table; takes about 4 minutes (plus a few the
# first time, to build tuftool) and 6 GiB of temporary disk (set BENCH_DIR to choose where).
#
#   scripts/bench.sh            everything
#   BENCH_TARGETS=10000 scripts/bench.sh    a smaller large-repository figure
#   BENCH_NOTARY_TARGETS=1000 scripts/bench.sh    fewer targets for the notary client rows
#
# tuftool is built once with `cargo install` into target/bench-tools/ (a few minutes the first
# time; later runs reuse it); if it cannot be built, its rows are skipped with a message.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
if ! [ -x /usr/bin/time ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
started=$(date +%s)
cargo build --release --quiet
tk="$PWD/target/release/trustkey"
py=$(scripts/pyenv.sh)
ntargets=${BENCH_TARGETS:-100000}
nnotary=${BENCH_NOTARY_TARGETS:-10000}
tuftool_version=0.17.0
tuftool_root="$PWD/target/bench-tools/tuftool-$tuftool_version"

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/trustkey-bench.XXXXXX")
cleanup() {
  scripts/notary-server.sh stop "$work/notary-server" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export TRUSTKEY_PIN=123456 TRUSTKEY_PKCS11_MODULE=softhsm TRUSTKEY_TRUST_DIR="$work/trust"
export TRUSTKEY_TARGETS_PASSPHRASE="bench targets pass" TRUSTKEY_SNAPSHOT_PASSPHRASE="bench snapshot pass"
export TRUSTKEY_TIMESTAMP_PASSPHRASE="bench timestamp pass"
# The notary client links libpcsclite; pointing it at no pcscd keeps it from waiting for one.
export PCSCLITE_CSOCK_NAME=/nonexistent/trustkey-bench-no-pcscd
scripts/softhsm.sh token "$work/hsm" benchroot >/dev/null
export SOFTHSM2_CONF="$work/hsm/softhsm2.conf"
"$tk" -q root create --token pkcs11:token=benchroot >/dev/null
"$tk" -q init bench.example/files --root pkcs11:token=benchroot >/dev/null
"$tk" -q init bench.example/large --root pkcs11:token=benchroot >/dev/null
"$tk" -q init bench.example/tuf --dialect tuf --root pkcs11:token=benchroot >/dev/null

# secs CMD...: wall-clock seconds of one run. rss CMD...: peak resident set in KiB.
# A command that fails stops the bench with what it said (a time of a failure means nothing).
secs() {
  if ! /usr/bin/time -f %e -o "$work/t" "$@" >/dev/null 2>"$work/err"; then
    echo "bench: failed: $*" >&2
    grep -v '^Command exited' "$work/err" | tail -n 5 >&2
    exit 1
  fi
  cat "$work/t"
}
rss() { /usr/bin/time -f %M -o "$work/t" "$@" >/dev/null 2>&1; cat "$work/t"; }
# best of 3, to keep page-cache and scheduling noise out of the ratios
best() { local a b c; a=$(secs "$@"); b=$(secs "$@"); c=$(secs "$@"); printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -g | head -1; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
sum() { python3 -c "print(f'{$1 + $2:.2f}')"; }
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s |' "$1" "$2" "$3" "$4" "$5")"); }
# A row against a peer: trustkey's time, the peer's, "Nx faster" (goal: faster than the peer).
peer_row() { row "$1" "$2 s" "$3: $4 s" "$(ratio "$4" "$2")x faster" "> 1x faster"; }

# make_targets DIR N: N small files in 256 subdirectories.
make_targets() {
  python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"{i % 256:02x}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"t{i:06d}.txt"), "w") as f:
        f.write(f"target {i}\n")
PY
}

echo "bench: making test files in $work" >&2
head -c $((1 << 30)) /dev/urandom >"$work/1g.bin"
mkdir -p "$work/eight"
for i in 1 2 3 4 5 6 7 8; do head -c $((128 << 20)) /dev/urandom >"$work/eight/f$i.bin"; done
head -c $((2 << 30)) /dev/zero >"$work/2g.bin"
make_targets "$work/many" "$ntargets"
make_targets "$work/notary-many" "$nnotary"

# ---------------------------------------------------------------------------------------------
# Hashing, against openssl

echo "bench: add of one 1 GiB file" >&2
ref=$(best openssl dgst -sha512 "$work/1g.bin")
fig=$(best "$tk" -q add bench.example/files one "$work/1g.bin")
row "add of one 1 GiB file (sha256 + sha512)" "${fig} s" "openssl dgst -sha512: ${ref} s" "$(ratio "$fig" "$ref")" "<= 1.1"

echo "bench: add of 8 files of 128 MiB" >&2
ref=$(best sh -c "for f in '$work'/eight/*.bin; do openssl dgst -sha512 \"\$f\"; done")
floor=$(best sh -c "for f in '$work'/eight/*.bin; do openssl dgst -sha256 \"\$f\"; done")
fig=$(best "$tk" -q add bench.example/files --dir "$work/eight")
# Both hashes over two cores cannot beat (sha256 + sha512) / 2, whatever the ratio's goal.
row "add of 8 files of 128 MiB" "${fig} s" "openssl dgst -sha512, one by one: ${ref} s (two-hash floor on $(nproc) cores: $(python3 -c "print(f'{($ref + $floor) / $(nproc):.2f}')") s)" "$(ratio "$fig" "$ref")" "<= 0.7, or the floor"

echo "bench: peak memory of add of a 2 GiB file" >&2
mem=$(rss "$tk" -q add bench.example/files two "$work/2g.bin")
row "peak memory of add of a 2 GiB file" "$((mem / 1024)) MiB" "—" "—" "< 32 MiB"

# ---------------------------------------------------------------------------------------------
# Docker Content Trust: the notary client, same server kind (scripts/notary-server.sh)

echo "bench: notary client and trustkey against a local notary-server" >&2
NOTARY_HARNESS_WATCH_PID=$$ scripts/notary-server.sh start "$work/notary-server" >/dev/null
# shellcheck disable=SC1091 # written by notary-server.sh start
. "$work/notary-server/env"
# The notary client with its own trust dir and passphrases, as a command for `secs`.
cat >"$work/notary" <<EOF
#!/bin/sh
export HOME='$work/notary-home' NOTARY_ROOT_PASSPHRASE=bench-root-pass
export NOTARY_TARGETS_PASSPHRASE=bench-targets-pass NOTARY_SNAPSHOT_PASSPHRASE=bench-snapshot-pass
exec notary -s '$NOTARY_URL' --tlscacert '$NOTARY_CA' -d '$work/notary-trust' "\$@"
EOF
chmod +x "$work/notary"
mkdir -p "$work/notary-home"
for g in big many; do
  "$work/notary" init "bench.example/dct-$g" >/dev/null
  "$work/notary" publish "bench.example/dct-$g" >/dev/null
  "$tk" -q init "bench.example/tk-$g" --root pkcs11:token=benchroot -s "$NOTARY_URL" \
    --tlscacert "$NOTARY_CA" >/dev/null
  "$tk" -q publish "bench.example/tk-$g" >/dev/null 2>&1
done
ref=$(best sh -c "'$work/notary' add bench.example/dct-big big '$work/1g.bin' && '$work/notary' publish bench.example/dct-big")
fig=$(best sh -c "'$tk' -q add bench.example/tk-big big '$work/1g.bin' && '$tk' -q publish bench.example/tk-big")
peer_row "add + publish of one 1 GiB file to notary-server" "$fig" "notary add + notary publish" "$ref"

# notary adds one target per command: one run of each (the notary client takes minutes).
ref=$(secs sh -c "cd '$work/notary-many' && find . -type f | sed 's|^\./||' | while read -r f; do '$work/notary' add bench.example/dct-many \"\$f\" \"\$f\" || exit 1; done && '$work/notary' publish bench.example/dct-many")
fig=$(secs sh -c "'$tk' -q add bench.example/tk-many --dir '$work/notary-many' && '$tk' -q publish bench.example/tk-many")
peer_row "add + publish of $nnotary targets to notary-server" "$fig" "$nnotary × notary add + notary publish" "$ref"
[ "$("$work/notary" list bench.example/dct-many | grep -c '\.txt')" = "$nnotary" ] ||
  { echo "bench: notary did not publish $nnotary targets" >&2; exit 1; }
scripts/notary-server.sh stop "$work/notary-server" >/dev/null

# ---------------------------------------------------------------------------------------------
# A large repository: python-tuf, and the parts of trustkey's time against their floors

echo "bench: $ntargets targets" >&2
ref=$(secs "$py" scripts/bench_pytuf.py build "$work/many" "$work/pytuf")
add=$(secs "$tk" -q add bench.example/large --dir "$work/many")
pub=$(secs "$tk" -q publish bench.example/large --repo "$work/repo")
fig=$(sum "$add" "$pub")
peer_row "add + publish of $ntargets targets" "$fig" "python-tuf Metadata API, same targets" "$ref"
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
peer_row "verify of that repository" "$fig" "python-tuf loading and verifying its own" "$ref"

# ---------------------------------------------------------------------------------------------
# TUF 1.0: tuftool (awslabs/tough's command line), each tool making its own repository of the
# same targets with one ECDSA P-256 key per role

tuftool="$tuftool_root/bin/tuftool"
if ! [ -x "$tuftool" ]; then
  echo "bench: building tuftool $tuftool_version into $tuftool_root (once; takes minutes)" >&2
  t0=$(date +%s)
  if cargo install --quiet --locked tuftool --version "$tuftool_version" --root "$tuftool_root" \
    >"$work/tuftool-build.log" 2>&1; then
    echo "bench: tuftool built in $(($(date +%s) - t0)) s" >&2
  else
    echo "bench: tuftool could not be built; its rows are skipped. cargo said:" >&2
    tail -n 15 "$work/tuftool-build.log" >&2
    tuftool=
  fi
fi
if [ -n "$tuftool" ]; then
  # tuftool opens every target file at once: under a low open-file limit its rows use fewer
  # targets (the same ones for both tools), and say so.
  ntuf=$ntargets
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  lim=$(ulimit -n)
  if [ "$lim" != unlimited ] && [ $((ntuf + 1000)) -gt "$lim" ]; then
    ntuf=$(((lim - 1000) / 10000 * 10000))
    echo "bench: tuftool opens every target at once and the open-file limit is $lim: its rows use $ntuf targets" >&2
  fi
  tufdir="$work/many"
  if [ "$ntuf" -ne "$ntargets" ]; then
    tufdir="$work/many-tuf"
    make_targets "$tufdir" "$ntuf"
  fi
  echo "bench: tuftool, $ntuf targets" >&2
  tt="$work/tuftool"
  mkdir -p "$tt/one"
  echo "one more target" >"$tt/one/one-more.txt"
  # The root: one key for all four roles, threshold 1, as trustkey's repository has.
  # tough reads ECDSA keys as PKCS#8 DER (PEM only for RSA).
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -outform DER -out "$tt/key.der"
  "$tuftool" root init "$tt/root.json" >/dev/null
  "$tuftool" root expire "$tt/root.json" 'in 52 weeks' >/dev/null
  for role in root snapshot targets timestamp; do
    "$tuftool" root set-threshold "$tt/root.json" "$role" 1 >/dev/null
  done
  "$tuftool" root add-key "$tt/root.json" -k "$tt/key.der" \
    -r root -r snapshot -r targets -r timestamp >/dev/null
  "$tuftool" root sign "$tt/root.json" -k "$tt/key.der" >/dev/null
  # expiry and version flags of targets, snapshot and timestamp for `create` and `update`
  roles() { for r in targets snapshot timestamp; do printf -- "--%s-expires\nin 52 weeks\n--%s-version\n%s\n" "$r" "$r" "$1"; done; }
  mapfile -t v1 < <(roles 1)
  mapfile -t v2 < <(roles 2)

  ref=$(secs "$tuftool" create --root "$tt/root.json" -k "$tt/key.der" --add-targets "$tufdir" \
    "${v1[@]}" --outdir "$tt/repo")
  add=$(secs "$tk" -q add bench.example/tuf --dir "$tufdir")
  pub=$(secs "$tk" -q publish bench.example/tuf --repo "$work/tufrepo")
  peer_row "TUF 1.0: add + publish of $ntuf targets (target files copied into the repository)" \
    "$(sum "$add" "$pub")" "tuftool create (symlinks the target files)" "$ref"

  ref=$(secs "$tuftool" update --root "$tt/root.json" -k "$tt/key.der" --add-targets "$tt/one" \
    --metadata-url "file://$tt/repo/metadata" "${v2[@]}" --outdir "$tt/repo")
  fig=$(secs sh -c "'$tk' -q add bench.example/tuf one-more.txt '$tt/one/one-more.txt' && '$tk' -q publish bench.example/tuf --repo '$work/tufrepo'")
  peer_row "TUF 1.0: add + publish of 1 more target to those $ntuf" "$fig" "tuftool update" "$ref"

  # Both verify trustkey's repository from its first root, each run from an empty cache.
  meta="$work/tufrepo/bench.example/tuf/metadata"
  ref=$(best sh -c "rm -rf '$tt/clone' && '$tuftool' clone --metadata-only --root '$meta/1.root.json' --metadata-url 'file://$meta' --metadata-dir '$tt/clone'")
  fig=$(best sh -c "rm -rf '$work/tufclient' && TRUSTKEY_TRUST_DIR='$work/tufclient' '$tk' -q verify bench.example/tuf --dialect tuf --repo '$work/tufrepo'")
  [ -f "$tt/clone/targets.json" ] || { echo "bench: tuftool did not load trustkey's repository" >&2; exit 1; }
  peer_row "TUF 1.0: verify that repository ($((ntuf + 1)) targets), from an empty cache" "$fig" "tuftool clone --metadata-only (tough), same repository" "$ref"
fi

# ---------------------------------------------------------------------------------------------
# In-process benches

echo "bench: token signing (criterion)" >&2
cargo bench --quiet --bench signing -- --noplot >/dev/null 2>&1
est() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate']/1e3)" "target/criterion/token_sign/$1/new/estimates.json"; }
raw=$(est raw_c_sign); ours=$(est trustkey_signer)
row "1,000 signatures through SoftHSM, one session and login" "$(python3 -c "print(f'{$ours:.1f} µs/sig')")" "raw C_Sign loop: $(python3 -c "print(f'{$raw:.1f} µs/sig')")" "$(ratio "$ours" "$raw")" "<= 1.2"

echo "bench: hashed bins, ${BENCH_BIN_TARGETS:-1000000} targets in 1024 bins" >&2
while IFS= read -r line; do rows+=("$line"); done < <(cargo bench --quiet --bench bins 2>/dev/null | grep '^| ' | grep -v '^| figure')

echo
echo "trustkey $("$tk" --version | cut -d' ' -f2), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d), $(($(date +%s) - started)) s"
echo
echo "| figure | trustkey | reference (same run) | ratio | goal |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}" | grep -v '^|---'
