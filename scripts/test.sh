#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting, lints and every test
# (real SoftHSM tokens, the real notary client and server, openssl, pkcs11-tool), against the
# default build and against the lean one (`--no-default-features`: no YubiKey PIV, no PC/SC).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy --no-default-features --all-targets --quiet -- -D warnings
# The virtual YubiKey the PIV tests use (tests/virtual-piv, its own workspace).
scripts/virtual-piv.sh build
cargo fmt --check --manifest-path tests/virtual-piv/Cargo.toml
# The PKCS#11 fault module the fault tests build and load (tests/pkcs11-fault, its own workspace).
cargo fmt --check --manifest-path tests/pkcs11-fault/Cargo.toml
cargo test --all-targets
# The lean binary (no PIV): the library's tests and every integration test that runs the binary
# through code the feature changes. Left out, as they run once above: the yubikey* tests (they
# require the feature), and tests whose code paths do not depend on it and that take long
# (hostile repositories, fault injection, the source-layout checks, registry auth and migration
# against notary-server, the --json contract, the HTTP client of static repositories).
lean=()
for f in tests/*.rs; do
  name=$(basename "$f" .rs)
  case "$name" in
    yubikey*|attacks|faults_*|layers|migrate|registry_auth|client_tls|addhash|json_contract|tuf_http_client) ;;
    *) lean+=(--test "$name") ;;
  esac
done
cargo test --no-default-features --lib "${lean[@]}"
