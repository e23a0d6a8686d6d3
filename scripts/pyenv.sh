#!/usr/bin/env bash
# A Python venv with python-tuf (PyPI `tuf`) for the tests and benchmarks that run the real TUF
# client, and `jsonschema` for the test that checks every --json document against
# docs/json-schema/. Made once under target/pytuf-venv (or $TRUSTKEY_PYENV); prints the venv's python path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TRUSTKEY_PYENV:-$PWD/target/pytuf-venv}
stamp="$venv/.trustkey-ready-7.0.1-jsonschema-4.23.0"
if [ ! -f "$stamp" ]; then
  # Serialize concurrent test processes creating the same venv.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "tuf==7.0.1" "securesystemslib[crypto]==1.6.0" "jsonschema==4.23.0" >&2
    touch "$stamp"
  fi
fi
echo "$venv/bin/python"
