#!/usr/bin/env bash
# A virtual YubiKey (PIV) for tests and CI: tests/virtual-piv (piv-authenticator on trussed's
# virt platform; TEST KEYS ONLY: its RNG has a fixed seed) served to Debian's vsmartcard vpcd
# reader driver under pcscd, on loopback.
#
#   scripts/virtual-piv.sh start DIR   install what is missing (as root), build the card, start
#                                      pcscd if needed, (re)start a fresh card, wait until the
#                                      reader shows it, write DIR/env
#   scripts/virtual-piv.sh stop DIR    stop the card started for DIR (idempotent); pcscd stays
#   scripts/virtual-piv.sh build       only prepare the patched source and build the card
#
# DIR/env (shell syntax) sets TRUSTKEY_VPIV_SERIAL, TRUSTKEY_VPIV_READER and YKCS11_MODULE.
# VPIV_SERIAL (default 12345678) and VPIV_VERSION (default 5.4.3) choose what the card reports.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
crate="$here/tests/virtual-piv"
port=35963 # vpcd's default (0x8C7B)
reader_name="Yubico YubiKey virtual"
# vpcd serves one card at a time: whichever DIR started the running card, it is recorded here.
global_pid="${TMPDIR:-/tmp}/trustkey-virtual-piv.pid"
cmd=${1:-}
log() { echo "virtual-piv: $*" >&2; }

install_missing() {
  local packages=(pcscd vsmartcard-vpcd libpcsclite-dev libclang-dev pkg-config ykcs11 opensc)
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ykcs11 lists only readers whose name begins with "Yubico"; vpcd's reader is named after
# FRIENDLYNAME in its reader.conf. Returns 0 if the file changed (pcscd must reload it).
configure_reader() {
  local conf=/etc/reader.conf.d/vpcd
  grep -q "^FRIENDLYNAME \"$reader_name\"" "$conf" 2>/dev/null && return 1
  if [ "$(id -u)" != 0 ]; then
    log "note: $conf does not name the reader \"$reader_name\"; ykcs11 will not see it"
    return 1
  fi
  sed -i "s/^FRIENDLYNAME .*/FRIENDLYNAME \"$reader_name\"/" "$conf"
  log "reader renamed to \"$reader_name\" in $conf"
  return 0
}

pcscd_running() { pgrep -x pcscd >/dev/null 2>&1; }

ensure_pcscd() {
  local changed=$1
  if pcscd_running && [ "$changed" = 1 ]; then
    log "restarting pcscd to load the new reader name"
    pkill -x pcscd || true
    for _ in $(seq 50); do pcscd_running || break; sleep 0.1; done
  fi
  if ! pcscd_running; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
      systemctl restart pcscd.socket pcscd.service || pcscd
    else
      pcscd
    fi
  fi
  for _ in $(seq 50); do [ -S /run/pcscd/pcscd.comm ] && return 0; sleep 0.1; done
  log "pcscd did not come up"; exit 1
}

# The registry's piv-authenticator 0.7.0 plus import-p256.patch, where [patch.crates-io] looks.
prepare_source() {
  local dest="$crate/.patched/piv-authenticator"
  local stamp="$dest/.trustkey-patch"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$crate/import-p256.patch"; then return 0; fi
  local tmp
  tmp=$(mktemp -d)
  cat >"$tmp/Cargo.toml" <<'EOF'
[package]
name = "fetch-piv-authenticator"
version = "0.0.0"
edition = "2021"
[workspace]
[dependencies]
piv-authenticator = "=0.7.0"
EOF
  mkdir -p "$tmp/src" && echo 'fn main() {}' >"$tmp/src/main.rs"
  cargo fetch --quiet --manifest-path "$tmp/Cargo.toml"
  local archive
  archive=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/piv-authenticator-0.7.0.crate | head -1)
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$archive" -C "$dest" --strip-components=1
  (cd "$dest" && patch -s -p1 <"$crate/import-p256.patch")
  cp "$crate/import-p256.patch" "$stamp"
  rm -rf "$tmp"
}

build() {
  prepare_source
  # Its own target dir, whatever CARGO_TARGET_DIR says: this may run inside the main crate's
  # `cargo test`, which holds the lock on that crate's target dir.
  CARGO_TARGET_DIR="$crate/target" cargo build --quiet --manifest-path "$crate/Cargo.toml"
}

kill_pidfile() {
  local file=$1
  [ -f "$file" ] || return 0
  local pid
  pid=$(cat "$file")
  # Only a process that is our card binary (the pid may have been reused).
  if kill -0 "$pid" 2>/dev/null && grep -q virtual-piv "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

stop_card() {
  local dir=$1
  if [ -f "$dir/card.pid" ] && [ -f "$global_pid" ] && cmp -s "$dir/card.pid" "$global_pid"; then
    rm -f "$global_pid"
  fi
  kill_pidfile "$dir/card.pid"
}

# Waits until no reader shows a card (the previous card is gone from vpcd).
wait_no_card() {
  for _ in $(seq 50); do
    [ -z "$(reader_with_card)" ] && return 0
    sleep 0.1
  done
  return 1
}

# The name of the reader that holds a card, per opensc-tool -l ("Nr. Card Features Name").
reader_with_card() {
  opensc-tool -l 2>/dev/null | awk '$2 == "Yes" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }'
}

wait_card() {
  for _ in $(seq 150); do
    local r
    r=$(reader_with_card)
    case "$r" in
      *"$reader_name"* | *"Virtual PCD"*) echo "$r"; return 0 ;;
    esac
    sleep 0.2
  done
  return 1
}

case "$cmd" in
  build)
    install_missing
    build
    ;;
  start)
    dir=${2:?usage: $0 start DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    install_missing
    changed=0
    if configure_reader; then changed=1; fi
    build
    ensure_pcscd "$changed"
    stop_card "$dir"
    # A card left by another DIR would hold vpcd's only connection: stop it first.
    kill_pidfile "$global_pid"
    wait_no_card || { log "a card is still in the virtual reader (started by something else?)"; exit 1; }
    serial=${VPIV_SERIAL:-12345678}
    RUST_LOG=${RUST_LOG:-warn} "$crate/target/debug/virtual-piv" --port "$port" \
      --serial "$serial" --version "${VPIV_VERSION:-5.4.3}" >"$dir/card.log" 2>&1 &
    echo $! >"$dir/card.pid"
    cp "$dir/card.pid" "$global_pid"
    if ! reader=$(wait_card); then
      log "the reader shows no card after 30 s; card log:"; cat "$dir/card.log" >&2
      stop_card "$dir"; exit 1
    fi
    ykcs11=$(ls /usr/lib/*/libykcs11.so* 2>/dev/null | head -1 || true)
    cat >"$dir/env" <<EOF
TRUSTKEY_VPIV_SERIAL=$serial
TRUSTKEY_VPIV_READER='$reader'
YKCS11_MODULE=$ykcs11
EOF
    log "card $serial ready in reader \"$reader\""
    ;;
  stop)
    dir=${2:?usage: $0 stop DIR}
    [ -d "$dir" ] || exit 0
    stop_card "$dir"
    rm -f "$dir/env"
    wait_no_card || true
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
