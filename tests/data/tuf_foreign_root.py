"""Writes root version N+1 signed only by a new key that the trusted root does not list
(tests/tuf_dialect.rs): a client must refuse it.

Usage: tuf_foreign_root.py ROOT_IN ROOT_OUT
"""

import sys

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata


def main() -> None:
    src, dst = sys.argv[1:]
    md = Metadata.from_file(src)
    rogue = CryptoSigner.generate_ecdsa()
    for keyid in list(md.signed.roles["root"].keyids):
        md.signed.revoke_key(keyid, "root")
    md.signed.add_key(rogue.public_key, "root")
    md.signed.version += 1
    md.signatures.clear()
    md.sign(rogue)
    md.to_file(dst)


if __name__ == "__main__":
    main()
