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
# The lean binary (no PIV). The `piv` feature swaps one module (src/piv/: the YubiKey PIV
# code, or a stand-in that refuses `yubikey:` references) and nothing else, so the lean pass
# runs the library's tests, the tests that check what the lean build does differently
# (packaging: a `yubikey:` reference exits 2 in one line, no libpcsclite linked), and the main
# flows end to end on it (key commands, a root on a token, both dialects). Every other
# integration test runs the same code in both builds and runs once, above.
cargo test --no-default-features --lib --test packaging --test key_cmds --test root_token \
  --test tuf_dialect --test notary_repo
