"""Rows checked into batches of members: a chunk of the file, one NIR pseudonym per row."""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec

from domain.errors import LedgerError
from domain.facts import Member
from domain.nir import pseudonymiser
from domain.parse import roster_member
from ledger.roster.csv_layout import COLUMNS, MAX_FIELD, Layout

members_encoder = msgspec.json.Encoder()
members_decoder = msgspec.json.Decoder(tuple[Member, ...])


REF_BYTES: Final = 8
"""A ref's hash in `Batch.refs` (int64)."""
BUCKETS: Final = 256
_LOW_BYTE: Final = (BUCKETS - 1).__and__
"""A hash's bucket: its low byte (as `value & 255`)."""


class Batch(msgspec.Struct, array_like=True):
    first_line: int
    last_line: int
    digest: str
    members: bytes
    problems: list[str]
    repeats: int = 0
    """Rows of this batch that repeat a ref of an earlier row of the same batch."""
    refs: bytes = b""
    """The hashes of the batch's refs (int64), to find repeats across batches, in the order
    of `Repeats`' buckets (their low byte)."""
    bucket_sizes: bytes = b""
    """How many of `refs` fall in each of the 256 buckets (uint32 each): the worker sorts
    them so that the main process adds a batch in 256 slices, not one hash at a time."""


class Checked(msgspec.Struct, array_like=True):
    """What a worker sends back for its byte range: its batches, or the reason it stopped."""

    batches: list[Batch]
    fatal: str | None = None


def check_batch(key: bytes, lines: Sequence[int], rows: list[list[str]], shape: Layout) -> Batch:
    """Validate and encode one batch (runs in a worker process for large files)."""
    pseudo = pseudonymiser(key)
    members: dict[str, Member] = {}
    problems: list[str] = []
    hashed: list[str] = []
    positions = shape.positions
    width = shape.width
    in_order = positions == list(range(len(COLUMNS))) and width == len(COLUMNS)
    valid = 0
    for line, row in zip(lines, rows, strict=True):
        if len(row) != width:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            problems.append(f"line {line}: expected {width} values, got {len(row)}")
            continue
        cells = [cell.strip() for cell in row] if in_order else [row[p].strip() if p >= 0 else "" for p in positions]
        hashed.append("\x1f".join(cells))
        try:
            ref, role, contract, start, end, nir = cells
            member = roster_member(ref, role, contract, start, end, nir, pseudo, f"line {line}")
        except LedgerError as problem:
            problems.append(str(problem))
            continue
        valid += 1
        members.pop(member.ref, None)
        members[member.ref] = member
    # The digest of every row's cells, each followed by \x1e: one update for the whole batch.
    digest = hashlib.sha256("".join(f"{h}\x1e" for h in hashed).encode("utf-8", "surrogatepass"))
    encoded = members_encoder.encode(tuple(members.values())) if not problems else b"[]"
    # Each ref's hash, to count the rows that repeat a ref of an earlier batch (workers are
    # forked, so they share the main process's string hashes).
    hashes = sorted(map(hash, members), key=_LOW_BYTE)
    sizes = array("I", bytes(4 * BUCKETS))
    for value in hashes:
        sizes[value & 255] += 1
    refs = array("q", hashes).tobytes()
    return Batch(
        lines[0], lines[-1], digest.hexdigest(), encoded, problems, valid - len(members), refs, sizes.tobytes()
    )


checked_encoder = msgspec.msgpack.Encoder()
checked_decoder = msgspec.msgpack.Decoder(Checked)


def check_range(task: tuple[str, bytes, Layout, int, int, int, int]) -> bytes:
    """Worker: read bytes [start, end) of the file (whole lines, no quotes), check them in
    batches of `batch_size` rows whose first line is `first_line`; an encoded `Checked`."""
    file, key, shape, start, end, first_line, batch_size = task
    csv.field_size_limit(MAX_FIELD)
    with Path(file).open("rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        return checked_encoder.encode(Checked([], f"{file}: not UTF-8 text (byte {start + problem.start})"))
    del data
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=shape.separator)
    batches: list[Batch] = []
    rows: list[list[str]] = []
    line = first_line
    try:
        for row in reader:
            rows.append(row)
            if len(rows) >= batch_size:
                batches.append(check_batch(key, range(line, line + len(rows)), rows, shape))
                line += len(rows)
                rows = []
    except csv.Error as problem:
        return checked_encoder.encode(Checked(batches, f"line {first_line + reader.line_num - 1}: {problem}"))
    if rows:
        batches.append(check_batch(key, range(line, line + len(rows)), rows, shape))
    return checked_encoder.encode(Checked(batches))


class Repeats:
    """Counts the rows that repeat a ref seen earlier in the file (re-enrolments), in bounded
    memory: 8 bytes per member, in 256 buckets counted one at a time at the end."""

    def __init__(self) -> None:
        self.within = 0
        self._buckets = [array("q") for _ in range(BUCKETS)]

    def add(self, batch: Batch) -> None:
        self.within += batch.repeats
        sizes = array("I")
        sizes.frombytes(batch.bucket_sizes)
        refs = memoryview(batch.refs)
        start = 0
        for bucket, size in zip(self._buckets, sizes, strict=True):  # refs come sorted by bucket
            if size:
                bucket.frombytes(refs[start : start + 8 * size])
                start += 8 * size

    def count(self) -> int:
        """Rows whose ref an earlier row of the file already had."""
        across = 0
        for number, bucket in enumerate(self._buckets):
            across += len(bucket) - len(set(bucket))
            self._buckets[number] = array("q")
        return self.within + across
