"""RFC 6962 tree hashes, and RFC 9162 inclusion and consistency proofs, made and checked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from domain.audit import NODE_PREFIX

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof, a head or a checkpoint does not verify or is malformed."""


# -- hashing ----------------------------------------------------------------------------


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of `leaves` (leaf hashes), bottom-up.

    Pairing each level from the left and carrying an odd last node up unchanged
    builds exactly RFC 6962's left-balanced tree.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first (odd last nodes carried up)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- inclusion --------------------------------------------------------------------------


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[0:n]) of RFC 6962 §2.1.1: the siblings from the leaf up."""
    if not 0 <= index < len(leaves):
        raise ProofError(f"leaf index {index} is outside a tree of size {len(leaves)}")
    proof: list[bytes] = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index >>= 1
    return proof


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or `ProofError`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf, *proof])
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> None:
    """`ProofError` unless `leaf` is at `index` in the tree of `size` leaves with `expected_root`."""
    if root_from_inclusion_proof(leaf, index, size, proof) != expected_root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the expected root")


# -- consistency ------------------------------------------------------------------------


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 6962 §2.1.2, without recursion.

    SUBPROOF(m, D[a:a+n], b) either descends left (m <= k: the right subtree's
    hash is needed after the rest) or right (m > k: the left subtree's hash);
    walking down collects those hashes, which the proof lists bottom-up.
    """
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ProofError(f"cannot prove size {old_size} against a tree of size {n}")
    if old_size in (0, n):
        return []
    outer: list[bytes] = []
    start, m, size, complete = 0, old_size, n, True
    while m != size:
        k = _largest_power_of_two_below(size)
        if m <= k:
            outer.append(root(leaves[start + k : start + size]))
            size = k
        else:
            outer.append(root(leaves[start : start + k]))
            start, m, size, complete = start + k, m - k, size - k, False
    if not complete:
        outer.append(root(leaves[start : start + size]))
    return outer[::-1]


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """`ProofError` unless the tree (new_size, new_root) extends (old_size, old_root).

    RFC 9162 §2.1.4.2; a tree of any size extends the empty tree, and a tree
    extends itself only with an empty proof and the same root.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    _check_hashes([old_root, new_root, *proof])
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise ProofError("empty consistency proof between different sizes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is high")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root of size {new_size}")


def _check_hashes(hashes: Sequence[bytes]) -> None:
    for value in hashes:
        if len(value) != HASH_SIZE:
            raise ProofError(f"a hash must be {HASH_SIZE} bytes, not {len(value)}")
