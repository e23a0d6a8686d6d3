"""Builds a small TUF 1.0 repository with python-tuf's Metadata API (tests/tuf_dialect.rs).

Usage: tuf_make_repo.py OUT_DIR TARGET_NAME TARGET_FILE

Writes OUT_DIR/metadata/{1.root.json,root.json,timestamp.json,snapshot.json,targets.json}
(pretty-printed: the files are not canonical JSON, only what is signed is) and OUT_DIR/targets/TARGET_NAME. One ECDSA
P-256 key per role (securesystemslib's CryptoSigner). Prints the root's key ID.
"""

import os
import shutil
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.serialization.json import JSONSerializer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)


PRETTY = JSONSerializer(compact=False)


def main() -> None:
    out, name, path = sys.argv[1:]
    meta_dir = os.path.join(out, "metadata")
    os.makedirs(meta_dir, exist_ok=True)
    os.makedirs(os.path.join(out, "targets"), exist_ok=True)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
    signers = {r: CryptoSigner.generate_ecdsa() for r in ["root", "targets", "snapshot", "timestamp"]}

    root = Metadata(Root(expires=expires, consistent_snapshot=False))
    for role, signer in signers.items():
        root.signed.add_key(signer.public_key, role)

    targets = Metadata(Targets(expires=expires))
    with open(path, "rb") as f:
        data = f.read()
    targets.signed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
    shutil.copy(path, os.path.join(out, "targets", name))

    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    timestamp = Metadata(Timestamp(expires=expires))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)

    for md, role in [(root, "root"), (targets, "targets"), (snapshot, "snapshot"), (timestamp, "timestamp")]:
        md.sign(signers[role])
    root.to_file(os.path.join(meta_dir, "1.root.json"), PRETTY)
    root.to_file(os.path.join(meta_dir, "root.json"), PRETTY)
    targets.to_file(os.path.join(meta_dir, "targets.json"), PRETTY)
    snapshot.to_file(os.path.join(meta_dir, "snapshot.json"), PRETTY)
    timestamp.to_file(os.path.join(meta_dir, "timestamp.json"), PRETTY)
    print(signers["root"].public_key.keyid)


if __name__ == "__main__":
    main()
