"""The access log: who looked up whom, when, and whether anything was found.

Every lookup answered (and every incident summary) is a row: sequence number, time, token
fingerprint, the token's insurer (`*` for an all-insurer token), the kind of query (`nir`,
`ref`, `invalid-nir`, `summary`), its subject (the NIR's keyed pseudonym, never the NIR;
`insurer/ref`; the incident) and whether it found anything. `entries` reads the rows in
order; `verify` recomputes the chain and names the first bad rows.

**Blocks.** The lookups of one request share their time, token and insurer: they are stored
as one row of `service_log` per request (a block: its first and last sequence numbers, the
shared values, and `lookups`, the canonical JSON array of `[kind, subject, found]`), indexed
by token and by time. A batch of 1,000 lookups is one row, one index entry per index and
one hash (`service.access_writer` writes them).

**Chain.** Each block is sealed: `hash` = SHA-256 of the previous seal, a newline and the
block's canonical JSON `[first, at_us, token, insurer, lookups]` (`block_seal`); the first
seal follows 64 zeros. Rows read from a block carry its seal on the last row, an empty hash
on the others.

**Earlier logs.** A log written before blocks keeps its rows in `service_access`, one per
lookup, each group of rows sealed on its last row (`seal`: a group of one row hashes the
row's array, a larger group the array of the rows' arrays). They are read and verified
first, and the first block chains after their last seal.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

import msgspec

from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db
from service.storage import LEGACY_TABLE, LOG_TABLE

GENESIS: Final = "0" * 64
ALL_INSURERS: Final = "*"
PAGE: Final = 200
"""Blocks (or earlier rows x 25) read per statement."""


class ChainBroken(Exception):
    """The access log's chain does not verify; `seq` is the first bad row."""

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class Access(NamedTuple):
    """One request's lookups as logged (before their place in the chain is known): each
    lookup's (kind, subject, found 0 or 1)."""

    at_us: int
    token: str
    insurer: str
    lookups: Sequence[tuple[str, str, int]]


@dataclass(frozen=True)
class Entry:
    """A logged row."""

    seq: int
    at_us: int
    token: str
    insurer: str
    kind: str
    subject: str
    found: bool
    hash: str

    def as_json(self) -> dict[str, object]:
        """The row as `service log --json` prints it."""
        return {
            "seq": self.seq,
            "at": iso_utc(from_micros(self.at_us)),
            "token": self.token,
            "insurer": self.insurer,
            "kind": self.kind,
            "subject": self.subject,
            "found": self.found,
            "hash": self.hash,
        }


Row = tuple[int, int, str, str, str, str, int]
"""An earlier log's row, canonically: [seq, at_us, token, insurer, kind, subject, found (0 or 1)]."""

_ENCODER: Final = msgspec.json.Encoder()


def seal(previous: str, rows: Sequence[Row]) -> str:
    """An earlier log's seal of a group of rows: SHA-256 (hex) of the previous seal, a newline
    and the group's canonical JSON (the row's array for one row, else the array of the rows' arrays)."""
    body = _ENCODER.encode(rows[0] if len(rows) == 1 else rows)
    return hashlib.sha256(previous.encode("ascii") + b"\n" + body).hexdigest()


def block_seal(previous: str, first: int, at_us: int, token: str, insurer: str, lookups: bytes | str) -> str:
    """A block's seal: SHA-256 (hex) of the previous seal, a newline and `[first, at_us, token,
    insurer, lookups]` (`lookups`: the block's stored JSON, as it is)."""
    body = _ENCODER.encode([first, at_us, token, insurer, msgspec.Raw(lookups)])
    return hashlib.sha256(previous.encode("ascii") + b"\n" + body).hexdigest()


async def has_legacy(db: Db) -> bool:
    """Whether the service database holds an earlier log's table."""
    return LEGACY_TABLE in await db.names()


_LOOKUPS: Final = msgspec.json.Decoder(list[tuple[str, str, int]])


async def _paged(
    db: Db, select: str, key: str, token: str | None, since: int | None, page: int
) -> AsyncIterator[Sequence[Any]]:
    """The rows of `select` in the order of `key` (its first column), of one token and from a
    time on when they are given, read `page` rows a statement."""
    sql = f"{select} WHERE {key} > ?"
    filters: list[object] = []
    if token is not None:
        sql += " AND token = ?"
        filters.append(token)
    if since is not None:
        sql += " AND at_us >= ?"
        filters.append(since)
    after = 0
    while True:
        rows = list(await db.execute_fetchall(f"{sql} ORDER BY {key} LIMIT {page}", (after, *filters)))
        if not rows:
            return
        for row in rows:
            yield row
        after = int(rows[-1][0])


async def _blocks(
    db: Db, token: str | None, since: int | None
) -> AsyncIterator[tuple[int, int, int, str, str, str, str]]:
    select = f"SELECT first_seq, last_seq, at_us, token, insurer, lookups, hash FROM {LOG_TABLE}"
    async for first, last, at_us, tok, insurer, lookups, hashed in _paged(db, select, "first_seq", token, since, PAGE):
        yield int(first), int(last), int(at_us), str(tok), str(insurer), str(lookups), str(hashed)


async def _legacy(db: Db, token: str | None, since: int | None) -> AsyncIterator[Entry]:
    select = f"SELECT seq, at_us, token, insurer, kind, subject, found, hash FROM {LEGACY_TABLE}"
    async for seq, at_us, tok, insurer, kind, subject, found, hashed in _paged(
        db, select, "seq", token, since, PAGE * 25
    ):
        yield Entry(int(seq), int(at_us), str(tok), str(insurer), str(kind), str(subject), bool(found), str(hashed))


async def entries(db: Db, token: str | None = None, since: datetime | None = None) -> AsyncIterator[Entry]:
    """Logged rows in order, optionally of one token and from a time on."""
    fingerprint = token.strip().lower() if token is not None else None
    start = to_micros(since) if since is not None else None
    if await has_legacy(db):
        async for entry in _legacy(db, fingerprint, start):
            yield entry
    async for first, last, at_us, tok, insurer, lookups, hashed in _blocks(db, fingerprint, start):
        for seq, (kind, subject, found) in enumerate(_LOOKUPS.decode(lookups), first):
            yield Entry(seq, at_us, tok, insurer, kind, subject, bool(found), hashed if seq == last else "")


def _mismatch(first: int, last: int) -> ChainBroken:
    rows = f"row {first} does not match its" if first == last else f"rows {first}-{last} do not match their"
    return ChainBroken(f"access log: {rows} hash (edited or reordered)", first)


async def verify(db: Db) -> tuple[int, str]:
    """Recompute the chain: (rows, last seal); `ChainBroken` at the first bad row (the first row
    of a group or block whose seal does not match)."""
    previous, expected = GENESIS, 1
    group: list[Row] = []
    if await has_legacy(db):
        async for entry in _legacy(db, None, None):
            if entry.seq != expected:
                raise ChainBroken(f"access log: row {expected} is missing (next row is {entry.seq})", expected)
            group.append(
                (entry.seq, entry.at_us, entry.token, entry.insurer, entry.kind, entry.subject, 1 if entry.found else 0)
            )
            expected += 1
            if not entry.hash:
                continue
            if seal(previous, group) != entry.hash:
                raise _mismatch(group[0][0], entry.seq)
            previous, group = entry.hash, []
    if group:
        first = group[0][0]
        raise ChainBroken(f"access log: rows {first}-{expected - 1} are not sealed by a hash (edited)", first)
    async for first, last, at_us, token, insurer, lookups, hashed in _blocks(db, None, None):
        if first != expected:
            raise ChainBroken(f"access log: row {expected} is missing (next row is {first})", expected)
        try:
            count = len(_LOOKUPS.decode(lookups))
        except msgspec.DecodeError:
            raise _mismatch(first, last) from None
        if count != last - first + 1 or block_seal(previous, first, at_us, token, insurer, lookups) != hashed:
            raise _mismatch(first, last)
        previous, expected = hashed, last + 1
    return expected - 1, previous
