"""python-tuf's ngclient against a repository trustkey published (tests/tuf_dialect.rs).

Usage: tuf_client.py METADATA_DIR METADATA_URL TARGETS_URL DOWNLOAD_DIR ROOT_FILE [TARGET...]

Bootstraps from ROOT_FILE (trustkey's 1.root.json) unless METADATA_DIR already holds a trusted
root.json from an earlier run, refreshes, and downloads each TARGET. Prints one JSON object:
{"ok": true, "targets": {name: path}, "keyids": [...], "root_version": N} or
{"ok": false, "error": "ExceptionClass: message"} (exit code 1).
"""

import json
import os
import sys

from securesystemslib.signer._utils import compute_default_keyid
from tuf.ngclient import Updater


def main() -> int:
    metadata_dir, metadata_url, targets_url, download_dir, root_file, *names = sys.argv[1:]
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(download_dir, exist_ok=True)
    bootstrap = None
    if not os.path.exists(os.path.join(metadata_dir, "root.json")):
        with open(root_file, "rb") as f:
            bootstrap = f.read()
    try:
        updater = Updater(
            metadata_dir, metadata_url, download_dir, targets_url, bootstrap=bootstrap
        )
        updater.refresh()
        got = {}
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                raise LookupError(f"target {name} not found")
            got[name] = updater.download_target(
                info, os.path.join(download_dir, name.replace("/", "_"))
            )
        root = updater._trusted_set.root
        # Every key ID must be what securesystemslib computes from the key itself.
        for keyid, key in root.keys.items():
            want = compute_default_keyid(key.keytype, key.scheme, key.keyval)
            if keyid != want:
                raise ValueError(f"key ID {keyid} is not the default key ID {want}")
        print(
            json.dumps(
                {
                    "ok": True,
                    "targets": got,
                    "keyids": sorted(root.keys),
                    "root_version": root.version,
                    "targets_version": updater._trusted_set.targets.version,
                }
            )
        )
        return 0
    except Exception as e:  # noqa: BLE001 - the test wants every failure as one line
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
