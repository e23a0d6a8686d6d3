#!/usr/bin/env bash
# SoftHSM tokens in a directory of your choice (never the system token dir).
#
#   scripts/softhsm.sh init DIR            write DIR/softhsm2.conf and DIR/tokens/
#   scripts/softhsm.sh token DIR LABEL     initialize a token LABEL (SO PIN and user PIN below)
#   scripts/softhsm.sh env DIR             print the export line for SOFTHSM2_CONF
#
# PINs come from TRUSTKEY_PIN (user, default 123456) and TRUSTKEY_SO_PIN (default 12345678);
# these defaults are for throwaway test tokens only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,9p' "$0" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
case "$cmd" in
  init)
    mkdir -p "$dir/tokens"
    chmod 700 "$dir/tokens"
    sed "s#@TOKENDIR@#$dir/tokens#" "$here/hsm-config/softhsm2.conf.in" >"$conf"
    echo "$conf"
    ;;
  token)
    label=${3:?token LABEL}
    [ -f "$conf" ] || "$0" init "$dir" >/dev/null
    SOFTHSM2_CONF="$conf" softhsm2-util --init-token --free --label "$label" \
      --so-pin "${TRUSTKEY_SO_PIN:-12345678}" --pin "${TRUSTKEY_PIN:-123456}" >/dev/null
    echo "token $label ready in $dir/tokens"
    ;;
  env)
    echo "export SOFTHSM2_CONF=$conf"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
