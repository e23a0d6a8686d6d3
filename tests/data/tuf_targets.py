"""python-tuf's ngclient reading a repository's target list without downloading any file
(tests/migrate.rs: a migrated repository is metadata only).

Usage: tuf_targets.py METADATA_DIR METADATA_URL ROOT_FILE [TARGET...]

Bootstraps from ROOT_FILE, refreshes, and looks up each TARGET (walking delegations as clients
do). Prints one JSON object: {"ok": true, "targets": {name: {"length": N, "hashes": {...}}},
"delegations": [role names targets delegates to]} or {"ok": false, "error": "..."} (exit 1).
"""

import json
import os
import sys

from tuf.ngclient import Updater


def main() -> int:
    metadata_dir, metadata_url, root_file, *names = sys.argv[1:]
    os.makedirs(metadata_dir, exist_ok=True)
    with open(root_file, "rb") as f:
        bootstrap = f.read()
    try:
        updater = Updater(
            metadata_dir, metadata_url, None, None, bootstrap=bootstrap
        )
        updater.refresh()
        got = {}
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                raise LookupError(f"target {name} not found")
            got[name] = {"length": info.length, "hashes": info.hashes}
        targets = updater._trusted_set.targets
        delegated = targets.delegations.roles if targets.delegations else {}
        print(
            json.dumps(
                {"ok": True, "targets": got, "delegations": sorted(delegated or {})}
            )
        )
        return 0
    except Exception as e:  # noqa: BLE001 - the test wants every failure as one line
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
