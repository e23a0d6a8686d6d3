#!/usr/bin/env bash
# Installs what trustkey's quickstart and tests need on Debian/Ubuntu, as root, non-interactively.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(softhsm2 opensc opensc-pkcs11 notary openssl ca-certificates python3 python3-venv tar gzip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install the Rust toolchain (https://rustup.rs) and run again" >&2
  exit 1
fi
