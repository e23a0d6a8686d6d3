#!/usr/bin/env bash
# The main job, end to end, on the embedded default: SoftHSM tokens in a project-local
# directory (.trustkey/), a root key mirrored onto two of them with an encrypted escrow, then a
# Docker Content Trust repository: init (root signed on the token), add a target, publish to a
# directory, delegate releases/ to a key on a publisher's own token, publish a release with it,
# and verify everything as a client would. Everything it makes lives under
# .trustkey/quickstart and is recreated on each run.
#
# The PIN and passphrases below are demo values for throwaway SoftHSM tokens. With real tokens,
# leave TRUSTKEY_PIN and the *_PASSPHRASE variables unset and trustkey prompts for them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --quiet
tk="$PWD/target/debug/trustkey"

demo="$PWD/.trustkey/quickstart"
rm -rf "$demo"
mkdir -p "$demo"
export TRUSTKEY_PIN=123456 TRUSTKEY_SO_PIN=12345678
scripts/softhsm.sh token "$demo/hsm" rootA >/dev/null
scripts/softhsm.sh token "$demo/hsm" rootB >/dev/null
scripts/softhsm.sh token "$demo/hsm" publisher >/dev/null
export SOFTHSM2_CONF="$demo/hsm/softhsm2.conf"
export TRUSTKEY_PKCS11_MODULE=softhsm
export TRUSTKEY_TRUST_DIR="$demo/trust"
export TRUSTKEY_ROOT_PASSPHRASE="quickstart root escrow"
export TRUSTKEY_TARGETS_PASSPHRASE="quickstart targets" TRUSTKEY_SNAPSHOT_PASSPHRASE="quickstart snapshot"
export TRUSTKEY_TIMESTAMP_PASSPHRASE="quickstart timestamp"
gun=example.com/quickstart

step() { printf '\n==> %s\n' "$*"; }

step "trustkey root create: one root key on two tokens (the second goes to the safe), plus an escrow"
"$tk" root create --token "pkcs11:token=rootA" --mirror "pkcs11:token=rootB" --escrow "$demo/root-escrow.p8"

step "trustkey root check: the backup token signs, and its signature verifies"
"$tk" root check --token "pkcs11:token=rootB"

step "trustkey root list"
"$tk" root list

step "trustkey token list"
"$tk" token list

step "trustkey init $gun: repository keys on disk, root metadata signed on token rootA"
"$tk" init "$gun" --root "pkcs11:token=rootA"

step "trustkey add + publish: one target, signed and written to $demo/repo"
echo "hello from trustkey" >"$demo/hello.txt"
"$tk" add "$gun" hello.txt "$demo/hello.txt"
"$tk" publish "$gun" --repo "$demo/repo"

step "trustkey delegation add: releases/ is signed by a key generated on the publisher's own token"
"$tk" delegation add "$gun" targets/releases --key "pkcs11:token=publisher;object=releases" \
    --generate --paths releases/
"$tk" publish "$gun" --repo "$demo/repo"

step "the publisher adds a release and publishes with their token (no targets key needed)"
echo "release 1.0" >"$demo/app-1.0.txt"
TRUSTKEY_TARGETS_PASSPHRASE= "$tk" add "$gun" releases/app-1.0.txt "$demo/app-1.0.txt" --role targets/releases
TRUSTKEY_TARGETS_PASSPHRASE= "$tk" publish "$gun" --repo "$demo/repo"

step "trustkey verify: a fresh client pins the root and checks every role and the targets' bytes"
TRUSTKEY_TRUST_DIR="$demo/client" "$tk" verify "$gun" --repo "$demo/repo" \
    --target hello.txt="$demo/hello.txt" --target releases/app-1.0.txt="$demo/app-1.0.txt"
TRUSTKEY_TRUST_DIR="$demo/client" "$tk" list "$gun" --repo "$demo/repo"

step "trustkey key list"
"$tk" key list

step "trustkey backup create + verify: the private keys and the escrow, owner-only tar.gz"
"$tk" backup create --out "$demo/trust-backup.tar.gz" --include "$demo/root-escrow.p8"
"$tk" backup verify "$demo/trust-backup.tar.gz"

printf '\nquickstart: done; everything is in %s\n' "$demo"
