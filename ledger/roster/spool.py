"""Checked batches kept in a temporary spool file between the two passes."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.roster.rows import Batch
from ledger.store import Store

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase is 'check' or 'append'."""


class Spool:
    """The checked batches between the two passes, in an unnamed temporary file; for an
    encrypted store each batch is sealed (AES-256-GCM) under a key that lives only in
    this process, so the spool holds no ref, contract or pseudonym in clear."""

    def __init__(self, file: Any, *, sealed: bool) -> None:
        self.file = file
        self.cipher = AESGCM(AESGCM.generate_key(bit_length=256)) if sealed else None
        self.written = 0

    def put(self, data: bytes) -> None:
        if self.cipher is not None:
            data = self.cipher.encrypt(self.written.to_bytes(12, "big"), data, None)
        self.written += 1
        self.file.write(struct.pack(">I", len(data)) + data)

    def __iter__(self) -> Iterator[bytes]:
        self.file.seek(0)
        number = 0
        while header := self.file.read(4):
            (size,) = struct.unpack(">I", header)
            data = self.file.read(size)
            if self.cipher is not None:
                data = self.cipher.decrypt(number.to_bytes(12, "big"), data, None)
            number += 1
            yield data


def spool_batch(
    batch: Batch, spool: Spool, problems: list[str], rows: int, batches: int, progress: Progress | None
) -> tuple[int, int]:
    problems.extend(batch.problems)
    count = batch.last_line - batch.first_line + 1
    if not batch.problems and not problems:
        spool.put(msgspec.msgpack.encode(batch))
    if progress is not None:
        progress("check", rows + count, 0)
    return rows + count, batches + 1


def spooled(spool: Spool) -> Iterator[Batch]:
    for data in spool:
        yield msgspec.msgpack.decode(data, type=Batch)


def spool_dir(store: Store) -> str | None:
    if store.path is None:  # PostgreSQL: the system's temporary folder
        return None
    folder = store.path.parent
    return str(folder) if folder.exists() and os.access(folder, os.W_OK) else None
