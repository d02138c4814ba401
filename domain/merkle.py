"""The ledger as a Merkle tree (RFC 6962 / RFC 9162), and its signed checkpoints.

Leaves are the facts' leaf hashes (`domain.audit.leaf_hash`), in append order:
position p is leaf index p - 1. The tree hash of n leaves is RFC 6962's MTH:

    MTH([])        = SHA-256("")
    MTH([leaf])    = leaf                          (already SHA-256(0x00 || ...))
    MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                     with k the largest power of two smaller than n

A `Head` (size, root) commits to the whole log: an auditor who kept a head can
ask for a consistency proof that today's log extends it (nothing rewritten,
nothing removed), and anyone can check that one fact is in a head with an
inclusion proof. Proofs are generated and verified with the algorithms of
RFC 9162 §2.1.3 and §2.1.4.

A checkpoint is the C2SP `tlog-checkpoint` text (origin line, size, base64 root)
wrapped in a C2SP `signed-note` (blank line, then one `— name signature` line per
signature). This module only formats and parses: Ed25519 itself (which needs the
`cryptography` package and key files) lives in `ledger.signing`.

Pure and iterative: a tree of a million leaves costs a million hashes and no
recursion deeper than the tree's height.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from domain.audit import NODE_PREFIX

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
ED25519: Final = 0x01
"""The signed-note signature type identifier of Ed25519 (C2SP signed-note)."""
SIGNATURE_DASH: Final = "\u2014 "
"""Every signature line of a signed note starts with an em dash and a space."""
MAX_SIGNATURES: Final = 100

_HEX_ROOT = re.compile(r"^[0-9a-fA-F]{64}$")
_KEY_NAME = re.compile(r"^[^\s+]+$")


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


# -- heads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A tree head: the number of facts and the root of their tree (lowercase hex)."""

    size: int
    root: str

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> Head:
        """The head of the tree of `leaves`."""
        return cls(len(leaves), root(leaves).hex())

    @property
    def digest(self) -> bytes:
        """The root as 32 bytes."""
        return bytes.fromhex(self.root)

    def __str__(self) -> str:
        return f"{self.size}:{self.root}"


def parse_head(text: str) -> Head:
    """A head written `SIZE:ROOT` (or `SIZE ROOT`), ROOT in hex or base64."""
    parts = text.strip().replace(":", " ").split()
    if len(parts) != 2 or not _is_decimal(parts[0]):
        raise ProofError(f"a head is SIZE:ROOT (e.g. 42:3f0a...), not {text.strip()[:80]!r}")
    return _checked_head(int(parts[0]), _root_hex(parts[1]))


def _is_decimal(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts other scripts' digits and superscripts."""
    return text.isascii() and text.isdigit()


def _checked_head(size: int, root_hex: str) -> Head:
    """A parsed head; the empty tree has one root only (MTH of no leaves)."""
    if size == 0 and root_hex != EMPTY_ROOT.hex():
        raise ProofError(f"the head of an empty log has root {EMPTY_ROOT.hex()}, not {root_hex}")
    return Head(size, root_hex)


def _root_hex(text: str) -> str:
    if _HEX_ROOT.match(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"a root is 64 hex digits or 44 base64 characters, not {text[:80]!r}") from None
    if len(raw) != HASH_SIZE:
        raise ProofError(f"a root is {HASH_SIZE} bytes, not {len(raw)}")
    return raw.hex()


# -- checkpoints (C2SP tlog-checkpoint in a C2SP signed-note) ----------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def display(self) -> str:
        """`name+keyidhex`: a key's name with its fingerprint, as Go's note tools print it
        (two keys may share a name, never a fingerprint)."""
        return key_display(self.name, self.key_id)

    def line(self) -> str:
        """`— name base64(key id || signature)` with its newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIGNATURE_DASH}{self.name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head named by its log's origin, with the signatures over its text."""

    origin: str
    head: Head
    extensions: tuple[str, ...] = ()
    signatures: tuple[NoteSignature, ...] = ()

    @property
    def body(self) -> str:
        """The signed text: origin, size, base64 root, extension lines; newline-terminated."""
        root_b64 = base64.b64encode(self.head.digest).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.head.size), root_b64, *self.extensions))

    def text(self) -> str:
        """The checkpoint as a signed note (just the body when unsigned)."""
        if not self.signatures:
            return self.body
        return self.body + "\n" + "".join(s.line() for s in self.signatures)


def checkpoint_body(origin: str, head: Head) -> str:
    """The text a log signs for `head`."""
    return Checkpoint(check_origin(origin), head).body


def check_origin(origin: str) -> str:
    """An origin line: non-empty, one line, no leading or trailing space."""
    if not origin or origin != origin.strip() or "\n" in origin:
        raise ProofError(f"invalid checkpoint origin {origin!r}")
    return origin


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from its text: a bare body or a signed note."""
    if "\r" in text:
        raise ProofError("a checkpoint uses LF line endings only")
    body, blank, rest = text.partition("\n\n")
    if not body.endswith("\n"):
        body += "\n"
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ProofError("a checkpoint has an origin line, a size line and a root line")
    origin, size_text, root_text, *extensions = lines
    check_origin(origin)
    if not _is_decimal(size_text) or (size_text.startswith("0") and size_text != "0"):
        raise ProofError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        raw_root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"checkpoint root {root_text!r} is not base64") from None
    if len(raw_root) != HASH_SIZE:
        raise ProofError(f"checkpoint root is {len(raw_root)} bytes, not {HASH_SIZE}")
    if any(not line for line in extensions):
        raise ProofError("a checkpoint has no empty line before its signatures' blank line")
    signatures = _parse_signatures(rest) if blank else ()
    return Checkpoint(origin, _checked_head(int(size_text), raw_root.hex()), tuple(extensions), signatures)


def _parse_signatures(text: str) -> tuple[NoteSignature, ...]:
    if not text.endswith("\n"):
        raise ProofError("a signed note ends with a newline")
    found: list[NoteSignature] = []
    for line in text[:-1].split("\n"):
        if not line.startswith(SIGNATURE_DASH):
            raise ProofError(f"not a signature line: {line[:80]!r}")
        name, _, blob = line[len(SIGNATURE_DASH) :].partition(" ")
        if not _KEY_NAME.match(name) or " " in blob:
            raise ProofError(f"malformed signature line: {line[:80]!r}")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise ProofError(f"signature of {name!r} is not base64") from None
        if len(raw) <= 4:
            raise ProofError(f"signature of {name!r} is too short")
        found.append(NoteSignature(name, raw[:4], raw[4:]))
    if not found or len(found) > MAX_SIGNATURES:
        raise ProofError(f"a signed note carries 1 to {MAX_SIGNATURES} signatures")
    return tuple(found)


# -- verifier keys (C2SP signed-note: name+keyid+base64(type || public key)) ------------


def key_id(name: str, public_key: bytes, key_type: int = ED25519) -> bytes:
    """The 4-byte key id: the first bytes of SHA-256(name || 0x0A || type || public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def key_display(name: str, identifier: bytes) -> str:
    """A key as people should read it: `name+keyidhex` (the name alone is not unique)."""
    return f"{name}+{identifier.hex()}"


def check_key_name(name: str) -> str:
    """A key name: non-empty, no spaces, no plus signs."""
    if not _KEY_NAME.match(name):
        raise ProofError(f"a key name has no spaces or '+' signs: {name!r}")
    return name


def verifier_key(name: str, public_key: bytes) -> str:
    """The public verifier key text `name+keyid+base64(0x01 || public key)`."""
    check_key_name(name)
    blob = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{blob}"


def signer_key(name: str, seed: bytes, public_key: bytes) -> str:
    """The private key text `PRIVATE+KEY+name+keyid+base64(0x01 || seed)` (Go's note format)."""
    check_key_name(name)
    blob = base64.b64encode(bytes([ED25519]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{key_id(name, public_key).hex()}+{blob}"


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 public key) from a verifier key; `ProofError` if malformed."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ProofError("a verifier key reads name+keyid+base64key")
    name, id_hex, blob = parts
    check_key_name(name)
    key_bytes = _key_blob(blob)
    if len(key_bytes) != 33 or key_bytes[0] != ED25519:
        raise ProofError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    public_key = key_bytes[1:]
    if id_hex.lower() != key_id(name, public_key).hex():
        raise ProofError(f"the key id {id_hex} does not match key {name!r}")
    return name, bytes.fromhex(id_hex), public_key


def parse_signer_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 seed) from `PRIVATE+KEY+name+keyid+base64(0x01 || seed)`."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise ProofError("a signer key reads PRIVATE+KEY+name+keyid+base64key")
    name, id_hex, blob = parts[2], parts[3], parts[4]
    check_key_name(name)
    key_bytes = _key_blob(blob)
    if len(key_bytes) != 33 or key_bytes[0] != ED25519:
        raise ProofError("only Ed25519 signer keys (type 0x01, 32-byte seed) are supported")
    try:
        key = bytes.fromhex(id_hex)
    except ValueError:
        raise ProofError(f"key id {id_hex!r} is not hex") from None
    if len(key) != 4:
        raise ProofError(f"key id {id_hex!r} is not 4 bytes")
    return name, key, key_bytes[1:]


def _key_blob(blob: str) -> bytes:
    try:
        return base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError("the key is not base64") from None
