"""Roster import (CSV → batched `members-enrolled` facts) and affected-member export.

Import runs in two passes so that a bad row writes nothing and a huge roster
never sits in memory:

1. check: the CSV is read once, every row validated and its NIR replaced by its
   pseudonym (in worker processes for large files, using both cores); each batch
   of thousands of members is msgspec-encoded into a temporary spool file;
2. append: each batch becomes one `members-enrolled` fact with a name-based id
   (insurer, known_on if given, and the batch's rows), appended in its own
   transaction. Re-running the same file appends nothing; a run interrupted at
   any point (even `kill -9`) is completed by running it again.

A ref that appears twice in a file is a re-enrolment: the later row wins.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

import msgspec

from domain import times
from domain.errors import InvalidFact, LedgerError
from domain.facts import Member
from domain.nir import pseudonymiser
from domain.parse import enrolment, roster_member
from projections import queries
from projections.store import Store

BATCH: Final = 5_000
COLUMNS: Final = ("ref", "role", "contract", "from", "until", "nir")
MAX_FIELD: Final = 10_000
MAX_PROBLEMS: Final = 20
PARALLEL_ABOVE_BYTES: Final = 4 * 1024 * 1024

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase is 'check' or 'append'."""

_members_encoder = msgspec.json.Encoder()
_members_decoder = msgspec.json.Decoder(tuple[Member, ...])


class _Batch(msgspec.Struct, array_like=True):
    first_line: int
    last_line: int
    digest: str
    members: bytes
    problems: list[str]


def _open(file: str) -> TextIO:
    try:
        return Path(file).open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InvalidFact(f"no such file: {file}") from None
    except IsADirectoryError:
        raise InvalidFact(f"{file} is a folder, not a CSV file") from None
    except OSError as problem:
        raise InvalidFact(f"{file}: {problem.strerror}") from None


def _chunks(file: str, batch_size: int) -> Iterator[tuple[list[int], list[list[str]], list[int]]]:
    """(line numbers, rows, column positions) in batches, after checking the header."""
    csv.field_size_limit(MAX_FIELD)
    with _open(file) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if not header:
                raise InvalidFact(f"{file}: empty file (expected a header ref,role,contract,from,until,nir)")
            names = [h.strip() for h in header]
            if any(n not in COLUMNS for n in names) or "ref" not in names or len(set(names)) != len(names):
                raise InvalidFact(
                    f"{file}: the header must name columns among ref,role,contract,from,until,nir, with ref; got {','.join(names)}"
                )
            positions = [names.index(c) if c in names else -1 for c in COLUMNS]
            lines: list[int] = []
            rows: list[list[str]] = []
            for row in reader:
                lines.append(reader.line_num)
                rows.append(row)
                if len(rows) >= batch_size:
                    yield lines, rows, positions
                    lines, rows = [], []
            if rows:
                yield lines, rows, positions
        except csv.Error as problem:
            raise InvalidFact(f"line {reader.line_num}: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None


def check_batch(key: bytes, lines: list[int], rows: list[list[str]], positions: list[int]) -> _Batch:
    """Validate and encode one batch (runs in a worker process for large files)."""
    pseudo = pseudonymiser(key)
    digest = hashlib.sha256()
    members: dict[str, Member] = {}
    problems: list[str] = []
    width = len([p for p in positions if p >= 0])
    for line, row in zip(lines, rows, strict=True):
        if len(row) != width:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            problems.append(f"line {line}: expected {width} values, got {len(row)}")
            continue
        cells = [row[p].strip() if p >= 0 else "" for p in positions]
        digest.update("\x1f".join(cells).encode("utf-8", "surrogatepass") + b"\x1e")
        try:
            ref, role, contract, start, end, nir = cells
            member = roster_member(ref, role, contract, start, end, nir, pseudo, f"line {line}")
        except LedgerError as problem:
            problems.append(str(problem))
            continue
        members.pop(member.ref, None)
        members[member.ref] = member
    return _Batch(lines[0], lines[-1], digest.hexdigest(), _members_encoder.encode(tuple(members.values())), problems)


def _check_all(file: str, key: bytes, batch_size: int, spool: Any, progress: Progress | None) -> tuple[int, int]:
    """Pass 1: validate every row into the spool. Returns (rows, batches)."""
    problems: list[str] = []
    rows_seen = batches = 0
    parallel = Path(file).stat().st_size > PARALLEL_ABOVE_BYTES and (os.cpu_count() or 1) > 1
    chunks = _chunks(file, batch_size)
    if parallel:
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            pending: list[concurrent.futures.Future[_Batch]] = []
            for lines, rows, positions in chunks:
                pending.append(pool.submit(check_batch, key, lines, rows, positions))
                if len(pending) >= 4:
                    rows_seen, batches = _spool(pending.pop(0).result(), spool, problems, rows_seen, batches, progress)
            for future in pending:
                rows_seen, batches = _spool(future.result(), spool, problems, rows_seen, batches, progress)
    else:
        for lines, rows, positions in chunks:
            rows_seen, batches = _spool(check_batch(key, lines, rows, positions), spool, problems, rows_seen, batches, progress)
    if problems:
        shown = problems[:MAX_PROBLEMS] + ([f"({len(problems) - MAX_PROBLEMS} more problems)"] if len(problems) > MAX_PROBLEMS else [])
        raise InvalidFact(*shown)
    if rows_seen == 0:
        raise InvalidFact(f"{file}: no members (only a header)")
    return rows_seen, batches


def _spool(batch: _Batch, spool: Any, problems: list[str], rows: int, batches: int, progress: Progress | None) -> tuple[int, int]:
    problems.extend(batch.problems)
    count = batch.last_line - batch.first_line + 1
    if not batch.problems:
        data = msgspec.msgpack.encode(batch)
        spool.write(struct.pack(">I", len(data)) + data)
    if progress is not None:
        progress("check", rows + count, 0)
    return rows + count, batches + 1


def _spooled(spool: Any) -> Iterator[_Batch]:
    spool.seek(0)
    while header := spool.read(4):
        (size,) = struct.unpack(">I", header)
        yield msgspec.msgpack.decode(spool.read(size), type=_Batch)


def batch_id(insurer: str, known_on: str | None, digest: str) -> str:
    """A name-based id: the same batch of the same roster always gets the same id."""
    name = hashlib.sha256(json.dumps([insurer, known_on, digest]).encode()).hexdigest()[:24]
    return f"roster-{insurer}-{name}"


async def import_roster(
    store: Store,
    insurer: str,
    file: str,
    *,
    known_on: str | None = None,
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Check the whole roster, then append it batch by batch; return counts."""
    if known_on is not None:
        times.parse_instant(known_on, "--known-on", store.tz)
    ctx = store.context()
    enrolment(insurer, (), "check", ctx, known_on)  # reject a bad insurer id or time before reading
    with tempfile.TemporaryFile(prefix="exposure-roster-", dir=_spool_dir(store)) as spool:
        total, batches = _check_all(file, store.keys.nir_key, batch_size, spool, progress)
        appended = unchanged = done = 0
        for batch in _spooled(spool):
            members = _members_decoder.decode(batch.members)
            done += batch.last_line - batch.first_line + 1
            if members:
                parsed = enrolment(insurer, members, batch_id(insurer, known_on, batch.digest), ctx, known_on)
                result = await store.append_parsed([parsed], [f"lines {batch.first_line}-{batch.last_line}"])
                appended += len(result.appended)
                unchanged += len(result.unchanged)
            if progress is not None:
                progress("append", done, total)
    await store.catch_up()
    return {"insurer": insurer, "rows": total, "facts": batches, "appended": appended, "unchanged": unchanged}


def _spool_dir(store: Store) -> str | None:
    folder = store.path.parent
    return str(folder) if folder.exists() and os.access(folder, os.W_OK) else None


async def export(store: Store, incident: str, h: queries.Horizon, insurer: str | None, fmt: str, sink: TextIO) -> int:
    """Write the affected members as CSV or JSON Lines; return how many."""
    await queries.require_incident(store.db, incident)  # before the header: an error writes nothing
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(queries.EXPORT_COLUMNS)
    rows = queries.affected_members(store.db, incident, h, insurer)
    async with contextlib.aclosing(rows):  # closed before the store, even when the reader goes away
        async for row in rows:
            count += 1
            if writer is not None:
                writer.writerow(
                    [";".join(row[c]) if isinstance(row[c], list) else ("" if row[c] is None else row[c]) for c in queries.EXPORT_COLUMNS]
                )
            else:
                sink.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    sink.flush()
    return count
