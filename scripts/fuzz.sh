#!/usr/bin/env bash
# Long fuzzing runs with AFL++ on stable Rust (`cargo afl`), one harness at a time. `cargo test`
# already runs every harness on a short budget (src/fuzz/tests.rs); this is the on-demand run.
#
#   scripts/fuzz.sh list                       the harnesses (src/fuzz/mod.rs)
#   scripts/fuzz.sh HARNESS [SECONDS]          fuzz HARNESS (default 600 s), at nice 10; the
#                                              corpus and findings go to target/fuzz/HARNESS/
#                                              (a later run resumes from them); prints the stats
#   scripts/fuzz.sh HARNESS --replay FILE...   run the harness once on each file (a crash
#                                              shows its panic); e.g. target/fuzz/HARNESS/
#                                              default/crashes/id:*
#
# Installs what it needs on first use: Debian's gcc and make (AFL++ is built from source by
# `cargo install cargo-afl`), then cargo-afl itself. Limits: FUZZ_MEM_MB (default 1024, afl-fuzz
# -m: the address space of the target; more is a finding), FUZZ_TIMEOUT_MS (default 2000, -t:
# longer is a hang). FUZZ_NICE (default 10). FUZZ_DRIVER: a driver built earlier (not rebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { echo "fuzz: $*" >&2; }

install_tools() {
  local missing=()
  for p in gcc make; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      log "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
      exit 1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! cargo afl --version >/dev/null 2>&1; then
    log "installing cargo-afl (builds AFL++; a few minutes)"
    cargo install --locked cargo-afl
  fi
}

build() {
  [ -n "${FUZZ_DRIVER:-}" ] && return 0
  log "building the AFL++ driver (fuzz/, release, instrumented)"
  (cd fuzz && nice -n "${FUZZ_NICE:-10}" cargo afl build --release --quiet)
}
driver=${FUZZ_DRIVER:-$root/fuzz/target/release/trustkey-fuzz}

cmd=${1:-}
case "$cmd" in
  "" | -h | --help)
    sed -n '2,17p' "$0" >&2
    exit 2
    ;;
  list)
    install_tools
    build
    "$driver" 2>&1 | tail -n +2
    exit 0
    ;;
esac

harness=$cmd
shift
seeds="$root/fuzz/seeds/$harness"
[ -d "$seeds" ] || { log "no harness $harness (no $seeds); see: scripts/fuzz.sh list"; exit 2; }
install_tools
build

if [ "${1:-}" = --replay ]; then
  shift
  for f in "$@"; do
    "$driver" "$harness" "$f" || log "$f: the harness failed (above)"
  done
  exit 0
fi

seconds=${1:-600}
out="$root/target/fuzz/$harness"
mkdir -p "$out"
input=$seeds
# Resume from the corpus of an earlier run.
[ -f "$out/default/fuzzer_stats" ] && input=-
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_SHUFFLE_QUEUE=1
log "fuzzing $harness for ${seconds}s (log: $out/afl.log)"
status=0
nice -n "${FUZZ_NICE:-10}" cargo afl fuzz -i "$input" -o "$out" -V "$seconds" \
  -m "${FUZZ_MEM_MB:-1024}" -t "${FUZZ_TIMEOUT_MS:-2000}" -x "$root/fuzz/trustkey.dict" \
  -- "$driver" "$harness" >"$out/afl.log" 2>&1 || status=$?

stats="$out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  tail -n 30 "$out/afl.log" >&2
  exit 1
fi
field() { sed -n "s/^$1 *: //p" "$stats"; }
crashes=$(field saved_crashes)
hangs=$(field saved_hangs)
printf '%s: %s s, %s execs (%s/s), corpus %s, crashes %s, hangs %s, peak RSS %s MB, edges %s\n' \
  "$harness" "$(field run_time)" "$(field execs_done)" "$(field execs_per_sec)" \
  "$(field corpus_count)" "$crashes" "$hangs" "$(field peak_rss_mb)" "$(field edges_found)"
if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
  log "findings in $out/default/crashes and $out/default/hangs; replay with: scripts/fuzz.sh $harness --replay FILE"
  exit 1
fi
[ "$status" = 0 ] || { tail -n 30 "$out/afl.log" >&2; exit "$status"; }
