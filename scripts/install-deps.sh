#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages trustkey needs, as root, non-interactively, and says what
# it installs. Safe to run again: it installs only what is missing.
#
#   scripts/install-deps.sh           build + quickstart: what `cargo build` and
#                                     scripts/quickstart.sh need
#   scripts/install-deps.sh --tests   everything the test suite needs as well (notary client and
#                                     server, python venv, the virtual YubiKey's pcscd and vpcd)
#
# The package lists are the README's "Install" section; keep the two in step.
set -euo pipefail

# Building: pkg-config finds libcrypto (OpenSSL, target hashing) for the `openssl` crate and
# libpcsclite for the `pcsc` crate (YubiKey PIV support, the default `piv` feature); ring and
# mimalloc compile C.
build=(pkg-config libssl-dev libpcsclite-dev gcc libc6-dev)
# Running the quickstart: SoftHSM tokens, pkcs11-tool, openssl.
quickstart=(softhsm2 opensc opensc-pkcs11 openssl ca-certificates)
# The tests: the real notary client and notary-server/-signer, python-tuf in a venv, tools the
# tests call (man renders the man pages), and the virtual YubiKey (tests/virtual-piv: pcscd +
# vsmartcard's vpcd, libclang for its bindgen build, ykcs11 for the PKCS#11 path).
tests=(notary python3 python3-venv tar gzip curl procps util-linux coreutils
  man-db pcscd vsmartcard-vpcd libclang-dev ykcs11)

packages=("${build[@]}" "${quickstart[@]}")
case "${1:-}" in
  --tests) packages+=("${tests[@]}") ;;
  "") ;;
  *)
    echo "usage: $0 [--tests]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: installed ${missing[*]}" >&2
else
  echo "install-deps: all ${#packages[@]} packages already installed" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install the Rust toolchain (https://rustup.rs; trustkey" \
    "needs Rust $(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml") or" \
    "newer) and run again" >&2
  exit 1
fi
