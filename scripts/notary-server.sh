#!/usr/bin/env bash
# A throwaway notary-server + notary-signer (Debian package `notary`) for tests.
#
#   scripts/notary-server.sh start DIR    make a test CA and certificates, start both, wait until
#                                         the server answers; writes DIR/env
#   scripts/notary-server.sh stop DIR     stop both (idempotent)
#
# Everything lives under DIR: ca.crt, server/signer/client certificates, configs, logs
# (DIR/notary-server.log, DIR/notary-signer.log), pid files. Storage is in memory. Both listen on
# 127.0.0.1 only, on ports the kernel picks (address ":0"); the script reads the chosen port back
# from /proc, so any number of instances can run side by side without racing for ports.
# DIR/env is shell-sourceable:
#   NOTARY_URL=https://127.0.0.1:PORT
#   NOTARY_CA=DIR/ca.crt
# With NOTARY_HARNESS_AUTH='{"type": "token", "options": {...}}' set at start, the server's config
# gets that "auth" section (registry token auth in front of the API).
# With NOTARY_HARNESS_WATCH_PID=PID set at start, a watchdog stops both daemons once process PID
# is gone (tests set it to their own pid, so a killed test run leaves nothing behind).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi

# Seconds to wait for each daemon to come up.
START_TIMEOUT=${NOTARY_HARNESS_TIMEOUT:-30}

die() { echo "notary-server.sh: $*" >&2; exit 1; }

# notary-server, notary-signer and openssl; installed with apt-get when missing and we are root.
ensure_tools() {
  local missing=()
  command -v notary-server >/dev/null || missing+=(notary)
  command -v notary-signer >/dev/null || missing+=(notary)
  command -v openssl >/dev/null || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install with: apt-get install -y notary openssl"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq notary openssl >/dev/null
  local tool
  for tool in notary-server notary-signer openssl; do
    command -v "$tool" >/dev/null || die "apt-get install notary openssl did not provide $tool"
  done
}

# The test CA and three leaf certificates, all with SANs DNS:localhost and IP:127.0.0.1.
make_certs() {
  local d=$1
  [ -f "$d/ca.crt" ] && [ -f "$d/client.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$d/ca.key" -sha256 -days 2 -subj "/CN=trustkey test CA $(basename "$d") $$" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$d/ca.crt" 2>/dev/null
  local name usage
  for name in server signer client; do
    case $name in
      client) usage=clientAuth ;;
      *) usage=serverAuth ;;
    esac
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
    openssl req -new -key "$d/$name.key" -subj "/CN=notary-$name" -out "$d/$name.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=$usage" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 2 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
    rm -f "$d/$name.csr" "$d/$name.ext"
  done
  chmod 600 "$d"/*.key
}

# The port of the TCP socket that PID listens on at 127.0.0.1 (nothing if none yet).
listen_port() {
  local pid=$1 inodes
  inodes=$(find "/proc/$pid/fd" -maxdepth 1 -type l -printf '%l\n' 2>/dev/null |
    sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
  [ -n "$inodes" ] || return 0
  # /proc/net/tcp: sl local_address rem_address st ... inode (field 10); st 0A is LISTEN.
  local hex
  hex=$(awk -v inodes=" $inodes" '
    $4 == "0A" && index(inodes, " " $10 " ") {
      split($2, a, ":"); if (a[1] == "0100007F") { print a[2]; exit }
    }' /proc/net/tcp)
  [ -z "$hex" ] || echo $((16#$hex))
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Starts "$@" in the background, detached from our stdio; prints its pid.
spawn() {
  local log=$1
  shift
  if command -v setsid >/dev/null; then
    setsid "$@" </dev/null >"$log" 2>&1 &
  else
    "$@" </dev/null >"$log" 2>&1 &
  fi
  echo $!
}

fail_with_logs() {
  local what=$1 log=$2
  echo "notary-server.sh: $what" >&2
  echo "--- last lines of $log ---" >&2
  tail -n 20 "$log" >&2 || true
  stop_all "$dir"
  exit 1
}

# Waits until PID listens on 127.0.0.1; prints the port.
wait_listening() {
  local pid=$1 log=$2 name=$3 port="" i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    alive "$pid" || fail_with_logs "$name exited during start-up" "$log"
    port=$(listen_port "$pid")
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  fail_with_logs "$name did not listen within ${START_TIMEOUT}s" "$log"
}

# True when the server's health endpoint answers 200 over TLS verified with our CA.
healthy() {
  local port=$1 ca=$2 reply
  if command -v curl >/dev/null; then
    curl -fsS --max-time 5 --cacert "$ca" "https://127.0.0.1:$port/_notary_server/health" \
      >/dev/null 2>&1
    return
  fi
  reply=$(printf 'GET /_notary_server/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' |
    timeout 5 openssl s_client -quiet -connect "127.0.0.1:$port" -servername localhost \
      -CAfile "$ca" -verify_return_error 2>/dev/null | head -n 1) || return 1
  [[ $reply == HTTP/1.?\ 200* ]]
}

# The pid in PIDFILE if that process is still the daemon started for directory D.
our_pid() {
  local pidfile=$1 d=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  case $pid in '' | *[!0-9]*) return 0 ;; esac
  # Guards against a recycled pid: the command line names our config in D.
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-config $d/"; then
    echo "$pid"
  fi
}

# Both daemons get SIGTERM together; whatever is left after half a second gets SIGKILL (they
# keep everything in memory, so there is nothing to lose).
stop_all() {
  local d=$1 i wd
  # The watchdog first, so that it cannot stop a later start in the same directory.
  wd=$(cat "$d/watchdog.pid" 2>/dev/null || true)
  case $wd in '' | *[!0-9]*) ;; *)
    local args=()
    mapfile -d '' args <"/proc/$wd/cmdline" 2>/dev/null || true
    # argv of the watchdog: bash -c SCRIPT watchdog PID THIS_SCRIPT DIR
    if [ "$wd" != "$$" ] && [ "${args[3]:-}" = watchdog ] && [ "${args[6]:-}" = "$d" ]; then
      kill "$wd" 2>/dev/null || true
    fi ;;
  esac
  rm -f "$d/watchdog.pid"
  local pids=() left p
  for p in "$(our_pid "$d/notary-server.pid" "$d")" "$(our_pid "$d/notary-signer.pid" "$d")"; do
    [ -n "$p" ] && pids+=("$p")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      left=()
      for p in "${pids[@]}"; do
        if alive "$p"; then left+=("$p"); fi
      done
      [ ${#left[@]} -eq 0 ] && break
      if [ "$i" = 5 ]; then kill -9 "${left[@]}" 2>/dev/null || true; fi
      sleep 0.1
    done
  fi
  rm -f "$d/notary-server.pid" "$d/notary-signer.pid"
}

# Stops DIR's daemons when NOTARY_HARNESS_WATCH_PID exits (see the top of this file).
watch() {
  local d=$1 w=${NOTARY_HARNESS_WATCH_PID:-}
  [ -n "$w" ] || return 0
  case $w in *[!0-9]*) die "NOTARY_HARNESS_WATCH_PID must be a pid" ;; esac
  # shellcheck disable=SC2016 # $1..$3 are the watchdog's own arguments
  spawn /dev/null bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
    exec bash "$2" stop "$3"' watchdog "$w" "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$d" \
    >"$d/watchdog.pid"
}

start() {
  local d=$1
  ensure_tools
  if [ -n "$(our_pid "$d/notary-server.pid" "$d")" ]; then
    die "already running in $d (run stop first)"
  fi
  stop_all "$d"
  rm -f "$d/env"
  make_certs "$d"

  cat >"$d/signer.json" <<EOF
{
  "server": {
    "grpc_addr": "127.0.0.1:0",
    "tls_cert_file": "$d/signer.crt",
    "tls_key_file": "$d/signer.key",
    "client_ca_file": "$d/ca.crt"
  },
  "logging": { "level": "info" },
  "storage": { "backend": "memory" }
}
EOF
  # The memory key store needs no alias or passphrase (only the SQL and RethinkDB stores
  # read NOTARY_SIGNER_DEFAULT_ALIAS and NOTARY_SIGNER_<ALIAS>).
  local signer_pid signer_port server_pid server_port i
  signer_pid=$(spawn "$d/notary-signer.log" notary-signer -config "$d/signer.json")
  echo "$signer_pid" >"$d/notary-signer.pid"
  signer_port=$(wait_listening "$signer_pid" "$d/notary-signer.log" notary-signer)

  cat >"$d/server.json" <<EOF
{
  "server": {
    "http_addr": "127.0.0.1:0",
    "tls_cert_file": "$d/server.crt",
    "tls_key_file": "$d/server.key"
  },
  "trust_service": {
    "type": "remote",
    "hostname": "127.0.0.1",
    "port": "$signer_port",
    "key_algorithm": "ecdsa",
    "tls_ca_file": "$d/ca.crt",
    "tls_client_cert": "$d/client.crt",
    "tls_client_key": "$d/client.key"
  },
  ${NOTARY_HARNESS_AUTH:+\"auth\": $NOTARY_HARNESS_AUTH,}
  "logging": { "level": "info" },
  "storage": { "backend": "memory" }
}
EOF
  server_pid=$(spawn "$d/notary-server.log" notary-server -config "$d/server.json")
  echo "$server_pid" >"$d/notary-server.pid"
  server_port=$(wait_listening "$server_pid" "$d/notary-server.log" notary-server)

  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    alive "$server_pid" || fail_with_logs "notary-server exited during start-up" \
      "$d/notary-server.log"
    if healthy "$server_port" "$d/ca.crt"; then
      printf 'NOTARY_URL=https://127.0.0.1:%s\nNOTARY_CA=%s\n' "$server_port" "$d/ca.crt" \
        >"$d/env.tmp"
      mv "$d/env.tmp" "$d/env"
      watch "$d"
      echo "notary-server at https://127.0.0.1:$server_port (signer on port $signer_port)"
      return 0
    fi
    sleep 0.1
  done
  fail_with_logs "notary-server did not answer /_notary_server/health within ${START_TIMEOUT}s" \
    "$d/notary-server.log"
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    start "$dir"
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_all "$dir"
    rm -f "$dir/env"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
