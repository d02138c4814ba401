"""A log's head (size, root) and its C2SP checkpoint: the `tlog-checkpoint` body in a
`signed-note`, formatted and parsed (signatures themselves are `ledger.signing`'s).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from domain.merkle.keys import KEY_NAME, key_display
from domain.merkle.tree import EMPTY_ROOT, HASH_SIZE, ProofError, root

SIGNATURE_DASH: Final = "\u2014 "
"""Every signature line of a signed note starts with an em dash and a space."""
MAX_SIGNATURES: Final = 100

_HEX_ROOT = re.compile(r"^[0-9a-fA-F]{64}$")


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
        if not KEY_NAME.match(name) or " " in blob:
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
