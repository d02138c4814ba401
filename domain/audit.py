"""Tamper evidence: the hash of each fact as stored (a Merkle-tree leaf).

leaf_hash = SHA-256(0x00 || position as 8-byte big-endian || SHA-256(topic) || stored bytes)

The 0x00 prefix separates leaves from interior nodes (RFC 6962 §2.1); binding the
position makes a reordered or moved fact a different leaf. `docs/AUDIT.md`
specifies the algorithm for independent verifiers.
"""

from __future__ import annotations

import hashlib

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(position: int, topic: str, state: bytes) -> str:
    """The hex leaf hash of the fact stored at `position`."""
    digest = hashlib.sha256()
    digest.update(LEAF_PREFIX)
    digest.update(position.to_bytes(8, "big"))
    digest.update(hashlib.sha256(topic.encode("utf-8")).digest())
    digest.update(state)
    return digest.hexdigest()
