"""Ed25519 keys and signatures for checkpoints (C2SP signed-note, as Go's `sumdb/note`).

A key pair is two text files: the private key `PRIVATE+KEY+name+keyid+base64`
(mode 0600, refused when group or others can read it) and the public verifier
key `name+keyid+base64` next to it with `.pub`. An auditor needs only the
`.pub` file to check a signed checkpoint. The text formats live in
`domain.merkle`; this module holds what needs the `cryptography` package or the
file system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from domain.errors import InvalidFact, StoreError
from domain.merkle import (
    Checkpoint,
    NoteSignature,
    ProofError,
    check_key_name,
    key_display,
    key_id,
    parse_signer_key,
    parse_verifier_key,
    signer_key,
    verifier_key,
)
from ledger.keys import create_private, require_private


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key."""

    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def verifier_key(self) -> str:
        """The public verifier key text."""
        return verifier_key(self.name, self.public_key)

    @property
    def display(self) -> str:
        """`name+keyidhex`: the name with the key's fingerprint."""
        return key_display(self.name, key_id(self.name, self.public_key))

    def sign(self, checkpoint: Checkpoint) -> Checkpoint:
        """The checkpoint with this key's signature over its body added."""
        signature = self.private_key.sign(checkpoint.body.encode("utf-8"))
        line = NoteSignature(self.name, key_id(self.name, self.public_key), signature)
        kept = tuple(s for s in checkpoint.signatures if s.name != self.name)
        return replace(checkpoint, signatures=(*kept, line))


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @property
    def display(self) -> str:
        """`name+keyidhex`: the name with the key's fingerprint."""
        return key_display(self.name, self.key_id)

    def check(self, checkpoint: Checkpoint) -> None:
        """`ProofError` unless the checkpoint carries a valid signature by this key."""
        candidates = [s for s in checkpoint.signatures if s.name == self.name and s.key_id == self.key_id]
        if not candidates:
            names = ", ".join(sorted({s.display for s in checkpoint.signatures})) or "nobody"
            raise ProofError(f"the checkpoint is not signed by key {self.display!r} (signed by: {names})")
        public = Ed25519PublicKey.from_public_bytes(self.public_key)
        for candidate in candidates:
            try:
                public.verify(candidate.signature, checkpoint.body.encode("utf-8"))
            except InvalidSignature:
                continue
            return
        raise ProofError(f"the signature of key {self.display!r} does not match the checkpoint's text")


def signer_from_text(text: str) -> Signer:
    """A signer from its private key text."""
    name, expected_id, seed = parse_signer_key(text)
    private = Ed25519PrivateKey.from_private_bytes(seed)
    signer = Signer(name, private)
    if key_id(name, signer.public_key) != expected_id:
        raise ProofError("the private key's id does not match its key")
    return signer


def verifier_from_text(text: str) -> Verifier:
    """A verifier from its public key text."""
    return Verifier(*parse_verifier_key(text))


def generate(name: str) -> Signer:
    """A new random key pair called `name`."""
    return Signer(check_key_name(name), Ed25519PrivateKey.generate())


def private_text(signer: Signer) -> str:
    """The private key text (keep it secret)."""
    seed = signer.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return signer_key(signer.name, seed, signer.public_key)


def public_path(path: Path) -> Path:
    """Where the public key of the private key at `path` is written."""
    return path.with_name(path.name + ".pub")


def write_key_pair(path: Path, name: str) -> Signer:
    """Create `path` (private, 0600) and `path.pub` (public); refuse to overwrite either."""
    try:
        signer = generate(name)
    except ProofError as problem:
        raise InvalidFact(str(problem)) from None
    pub = public_path(path)
    taken = f"{pub} already exists; move it away or choose another file"
    if pub.exists() or pub.is_symlink():  # a dangling symlink too: it would be written through
        raise StoreError(taken)
    exists = f"{path} already exists; move it away or choose another file"
    create_private(path, (private_text(signer) + "\n").encode("ascii"), exists)
    try:  # O_EXCL: never through a symlink, never over a file that appeared meanwhile
        descriptor = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        path.unlink()
        raise StoreError(taken) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(signer.verifier_key + "\n")
    return signer


def load_signer(path: Path) -> Signer:
    """The private key at `path`; refused when missing, malformed or readable by others."""
    require_private(path, "signing key", f"create one with: exposure audit keygen {path}")
    try:
        return signer_from_text(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, ProofError):
        raise StoreError(f"{path} is not a signing key (expected PRIVATE+KEY+name+keyid+key)") from None


def load_verifier(source: str) -> Verifier:
    """A public key given as a file or as its text."""
    path = Path(source)
    text = source
    try:
        if path.is_file():
            text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise InvalidFact(f"{source}: unreadable public key file") from None
    try:
        return verifier_from_text(text)
    except ProofError as problem:
        raise InvalidFact(f"{source[:80]}: not a public key ({problem})") from None
