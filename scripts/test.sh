#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting, lints and every test
# (real SoftHSM tokens, the real notary client and server, openssl, pkcs11-tool).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
