"""The python-tuf reference for scripts/bench.sh: the same work trustkey does, with the
Metadata API of python-tuf (PyPI `tuf`).

  bench_pytuf.py build TARGET_DIR OUT_DIR   hash every file under TARGET_DIR (sha256, sha512),
                                            build targets, snapshot, timestamp (and root), sign
                                            each with an ECDSA P-256 key, write them to OUT_DIR
  bench_pytuf.py verify OUT_DIR             load every role and verify its signatures and the
                                            snapshot/timestamp meta, as a client does
"""
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer


def build(target_dir: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365)
    signer = CryptoSigner.generate_ecdsa()
    root = Metadata(Root(expires=expires))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.signed.add_key(signer.public_key, role)
    targets = Metadata(Targets(expires=expires))
    for dirpath, _, files in os.walk(target_dir):
        for f in files:
            path = os.path.join(dirpath, f)
            name = os.path.relpath(path, target_dir)
            targets.signed.targets[name] = TargetFile.from_file(
                name, path, ["sha256", "sha512"]
            )
    snapshot = Metadata(Snapshot(expires=expires))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    timestamp = Metadata(Timestamp(expires=expires))
    ser = JSONSerializer(compact=True)
    for name, md in (("root", root), ("targets", targets)):
        md.sign(signer)
        md.to_file(os.path.join(out, f"{name}.json"), ser)
    snapshot.sign(signer)
    snapshot.to_file(os.path.join(out, "snapshot.json"), ser)
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    timestamp.sign(signer)
    timestamp.to_file(os.path.join(out, "timestamp.json"), ser)


def verify(out: str) -> None:
    root = Metadata[Root].from_file(os.path.join(out, "root.json"))
    root.verify_delegate("root", root)
    ts = Metadata[Timestamp].from_file(os.path.join(out, "timestamp.json"))
    root.verify_delegate("timestamp", ts)
    snap = Metadata[Snapshot].from_file(os.path.join(out, "snapshot.json"))
    root.verify_delegate("snapshot", snap)
    assert ts.signed.snapshot_meta.version == snap.signed.version
    targets = Metadata[Targets].from_file(os.path.join(out, "targets.json"))
    root.verify_delegate("targets", targets)
    assert snap.signed.meta["targets.json"].version == targets.signed.version
    print(len(targets.signed.targets), "targets verified")


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2])
    else:
        sys.exit(__doc__)
