#!/usr/bin/env bash
# Remakes the fuzzing seed corpus (fuzz/seeds/<harness>/) from real files: repositories
# published by trustkey in both dialects (SoftHSM tokens in a temp dir), by python-tuf
# (tests/data/tuf_make_repo.py) and by notary (tests/data/notary-0.7), key files made by
# trustkey, notary (tests/fixtures) and openssl, a trustkey backup archive, the trust dir's
# stage, config and state files. Every key here is a throwaway test key.
#
#   scripts/fuzz-seeds.sh      writes the raw material to a temp dir, then packs it into
#                              fuzz/seeds/ (src/fuzz/seeds.rs, an ignored test)
#
# Seeds are committed; rerun this only to refresh them (then review the diff: keep it small).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests >/dev/null
cargo build --quiet
tk="$PWD/target/debug/trustkey"
python=$(scripts/pyenv.sh)

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
export TRUSTKEY_PIN=123456 TRUSTKEY_SO_PIN=12345678
scripts/softhsm.sh token "$src/hsm" rootA >/dev/null
scripts/softhsm.sh token "$src/hsm" rootB >/dev/null
scripts/softhsm.sh token "$src/hsm" publisher >/dev/null
export SOFTHSM2_CONF="$src/hsm/softhsm2.conf" TRUSTKEY_PKCS11_MODULE=softhsm
export TRUSTKEY_ROOT_PASSPHRASE="fuzz seeds root escrow" TRUSTKEY_TARGETS_PASSPHRASE="fuzz seeds targets"
export TRUSTKEY_SNAPSHOT_PASSPHRASE="fuzz seeds snapshot" TRUSTKEY_TIMESTAMP_PASSPHRASE="fuzz seeds timestamp"
gun=example.com/app
echo "release 1" >"$src/app-1.txt"
echo "hello" >"$src/hello.txt"

"$tk" -q root create --token "pkcs11:token=rootA" --escrow "$src/root-escrow.p8" >/dev/null

# A repository in each dialect: two targets, a delegation on the publisher's token, a
# release signed by it, then a root rotation (a second root version) and one more publish.
publish_repo() { # DIALECT NAME [init options]
  local dialect=$1 name=$2
  shift 2
  export TRUSTKEY_TRUST_DIR="$src/trust-$name"
  local repo="$src/repo-$name" role=releases paths="releases/*"
  [ "$dialect" = notary ] && role=targets/releases paths=releases/
  "$tk" -q init "$gun" --root "pkcs11:token=rootA" --dialect "$dialect" "$@" >/dev/null
  "$tk" -q add "$gun" hello.txt "$src/hello.txt" >/dev/null
  mkdir -p "$src/stage-$name"
  cp "$TRUSTKEY_TRUST_DIR/tuf/$gun/staged.json" "$src/stage-$name/"
  "$tk" -q publish "$gun" --repo "$repo" >/dev/null
  "$tk" -q delegation add "$gun" "$role" --key "pkcs11:token=publisher;object=$name" \
    --generate --paths "$paths" >/dev/null
  "$tk" -q add "$gun" releases/app-1.txt "$src/app-1.txt" --role "$role" >/dev/null
  "$tk" -q publish "$gun" --repo "$repo" >/dev/null
  cp -r "$repo/$gun" "$src/first-$name"
  "$tk" -q root rotate "$gun" --token "pkcs11:token=rootB;object=root-$name" >/dev/null
  "$tk" -q publish "$gun" --repo "$repo" >/dev/null
  TRUSTKEY_TRUST_DIR="$src/client-$name" "$tk" -q verify "$gun" --repo "$repo" --dialect "$dialect" >/dev/null
  mv "$repo/$gun" "$src/published-$name"
}
publish_repo notary notary
publish_repo tuf tuf --consistent-snapshot --meta-hashes
TRUSTKEY_TRUST_DIR="$src/trust-tuf" "$tk" -q backup create --out "$src/backup.tar.gz" \
  --include "$src/root-escrow.p8" >/dev/null

# python-tuf's repository.
"$python" tests/data/tuf_make_repo.py "$src/pytuf" hello.txt "$src/hello.txt" >/dev/null

# Key files openssl writes, encrypted at a small KDF cost with the seeds' passphrase.
keys="$src/openssl-keys"
mkdir -p "$keys"
pass="trustkey fuzzing" # keys::SEED_PASSPHRASE in src/fuzz/keys.rs
openssl ecparam -name prime256v1 -genkey -noout -out "$keys/ec.sec1.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$keys/ec.sec1.pem" -out "$keys/ec.pkcs8.pem"
openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA1 -iter 2048 -passout "pass:$pass" \
  -in "$keys/ec.sec1.pem" -out "$keys/ec.pbkdf2.pem"
openssl pkcs8 -topk8 -scrypt -scrypt_N 1024 -scrypt_r 8 -scrypt_p 1 -passout "pass:$pass" \
  -in "$keys/ec.sec1.pem" -out "$keys/ec.scrypt.pem"
openssl ecparam -name prime256v1 -genkey -out "$keys/ec.params.pem" 2>/dev/null

if ! TRUSTKEY_FUZZ_SOURCES="$src" cargo test --quiet --lib fuzz::seeds::make_seeds \
  -- --ignored --exact >"$src/pack.log" 2>&1; then
  cat "$src/pack.log" >&2
  exit 1
fi
echo "fuzz seeds written to fuzz/seeds/ (review: git status fuzz/seeds)"
