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
import ctypes
import hashlib
import io
import json
import os
import signal
import stat
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import msgspec

from domain import times
from domain.errors import InvalidFact, LedgerError
from domain.facts import Member
from domain.nir import pseudonymiser
from domain.parse import Parsed, enrolment, roster_member
from ledger.store import Store
from projections import queries
from projections.csv_cells import cell

BATCH: Final = 5_000
COLUMNS: Final = ("ref", "role", "contract", "from", "until", "nir")
MAX_FIELD: Final = 10_000
MAX_PROBLEMS: Final = 20
PARALLEL_ABOVE_BYTES: Final = 2 * 1024 * 1024
WORKERS: Final = 2
TASK_BATCHES: Final = 8
"""Batches per worker task: a task is a byte range of the file that its worker reads itself."""
SCAN_BLOCK: Final = 256 * 1024
PR_SET_PDEATHSIG: Final = 1
"""prctl(2) option: the signal a process gets when its parent dies (Linux)."""
WATCH_SECONDS: Final = 0.5
APPEND_MEMBERS: Final = 40_000
"""Batches are appended a few at a time, up to this many members per transaction (one fact each)."""

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


class _Checked(msgspec.Struct, array_like=True):
    """What a worker sends back for its byte range: its batches, or the reason it stopped."""

    batches: list[_Batch]
    fatal: str | None = None


def _open(file: str) -> TextIO:
    try:
        return Path(file).open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InvalidFact(f"no such file: {file}") from None
    except IsADirectoryError:
        raise InvalidFact(f"{file} is a folder, not a CSV file") from None
    except OSError as problem:
        raise InvalidFact(f"{file}: {problem.strerror}") from None


def _positions(file: str, header: list[str] | None) -> list[int]:
    """Where each of COLUMNS is in a row (-1: absent), after checking the header."""
    if not header:
        raise InvalidFact(f"{file}: empty file (expected a header ref,role,contract,from,until,nir)")
    names = [h.strip() for h in header]
    if any(n not in COLUMNS for n in names) or "ref" not in names or len(set(names)) != len(names):
        raise InvalidFact(
            f"{file}: the header must name columns among ref,role,contract,from,until,nir, with ref;"
            f" got {','.join(names)}"
        )
    return [names.index(c) if c in names else -1 for c in COLUMNS]


def _chunks(file: str, batch_size: int) -> Iterator[tuple[list[int], list[list[str]], list[int]]]:
    """(line numbers, rows, column positions) in batches, after checking the header."""
    csv.field_size_limit(MAX_FIELD)
    with _open(file) as handle:
        reader = csv.reader(handle)
        try:
            positions = _positions(file, next(reader, None))
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


def check_batch(key: bytes, lines: Sequence[int], rows: list[list[str]], positions: list[int]) -> _Batch:
    """Validate and encode one batch (runs in a worker process for large files)."""
    pseudo = pseudonymiser(key)
    members: dict[str, Member] = {}
    problems: list[str] = []
    hashed: list[str] = []
    width = len([p for p in positions if p >= 0])
    in_order = positions == list(range(len(COLUMNS)))
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
        members.pop(member.ref, None)
        members[member.ref] = member
    # The digest of every row's cells, each followed by \x1e: one update for the whole batch.
    digest = hashlib.sha256("".join(f"{h}\x1e" for h in hashed).encode("utf-8", "surrogatepass"))
    encoded = _members_encoder.encode(tuple(members.values())) if not problems else b"[]"
    return _Batch(lines[0], lines[-1], digest.hexdigest(), encoded, problems)


_checked_encoder = msgspec.msgpack.Encoder()
_checked_decoder = msgspec.msgpack.Decoder(_Checked)


def check_range(task: tuple[str, bytes, list[int], int, int, int, int]) -> bytes:
    """Worker: read bytes [start, end) of the file (whole lines, no quotes), check them in
    batches of `batch_size` rows whose first line is `first_line`; an encoded `_Checked`."""
    file, key, positions, start, end, first_line, batch_size = task
    csv.field_size_limit(MAX_FIELD)
    with Path(file).open("rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        return _checked_encoder.encode(_Checked([], f"{file}: not UTF-8 text (byte {start + problem.start})"))
    del data
    reader = csv.reader(io.StringIO(text, newline=""))
    batches: list[_Batch] = []
    rows: list[list[str]] = []
    line = first_line
    try:
        for row in reader:
            rows.append(row)
            if len(rows) >= batch_size:
                batches.append(check_batch(key, range(line, line + len(rows)), rows, positions))
                line += len(rows)
                rows = []
    except csv.Error as problem:
        return _checked_encoder.encode(_Checked(batches, f"line {first_line + reader.line_num - 1}: {problem}"))
    if rows:
        batches.append(check_batch(key, range(line, line + len(rows)), rows, positions))
    return _checked_encoder.encode(_Checked(batches))


def _plan(file: str, batch_size: int) -> tuple[list[int], list[tuple[int, int, int]]] | None:
    """Column positions and (start, end, first line) byte ranges of `TASK_BATCHES` batches each,
    for workers to read themselves; None when the file must be read as CSV from the start
    (not a regular file, a quote anywhere, a bare CR, or anything odd about the header)."""
    try:
        handle = Path(file).open("rb")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        head = handle.readline(MAX_FIELD)
        if not head.endswith(b"\n") or b'"' in head or b"\r" in head[:-2]:
            return None
        try:
            header = next(csv.reader([head.decode("utf-8-sig")]), None)
        except (UnicodeDecodeError, csv.Error):
            return None
        positions = _positions(file, header)
        per_task = TASK_BATCHES * batch_size
        ranges: list[tuple[int, int, int]] = []
        offset = start = len(head)
        line = 2
        wanted = per_task  # newlines until the end of the current range
        while block := handle.read(SCAN_BLOCK):
            if block.endswith(b"\r"):
                block += handle.read(1)
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                return None
            found = block.count(b"\n")
            at = 0
            while found >= wanted:  # the range ends in this block: find its last newline
                for _ in range(wanted):
                    at = block.index(b"\n", at) + 1
                found -= wanted
                ranges.append((start, offset + at, line))
                start, line, wanted = offset + at, line + per_task, per_task
            wanted -= found
            offset += len(block)
        if offset > start:
            ranges.append((start, offset, line))
    return positions, ranges


def _check_all(file: str, key: bytes, batch_size: int, spool: Any, progress: Progress | None) -> tuple[int, int]:
    """Pass 1: validate every row into the spool. Returns (rows, batches)."""
    problems: list[str] = []
    rows_seen = batches = 0
    plan = _plan(file, batch_size)
    big = Path(file).stat().st_size > PARALLEL_ABOVE_BYTES if plan is not None else False
    parallel = big and (os.cpu_count() or 1) > 1
    if plan is not None:
        positions, ranges = plan
        tasks = [(file, key, positions, start, end, line, batch_size) for start, end, line in ranges]
        results: Iterator[bytes]
        with contextlib.ExitStack() as stack:
            if parallel:
                pool = stack.enter_context(
                    concurrent.futures.ProcessPoolExecutor(
                        max_workers=WORKERS, initializer=die_with_parent, initargs=(os.getpid(),)
                    )
                )
                results = _in_order(pool, tasks)
            else:
                results = map(check_range, tasks)
            for encoded in results:
                checked = _checked_decoder.decode(encoded)
                for batch in checked.batches:
                    rows_seen, batches = _spool(batch, spool, problems, rows_seen, batches, progress)
                if checked.fatal is not None:
                    raise InvalidFact(checked.fatal)
    else:
        for lines, rows, positions in _chunks(file, batch_size):
            batch = check_batch(key, lines, rows, positions)
            rows_seen, batches = _spool(batch, spool, problems, rows_seen, batches, progress)
    if problems:
        more = [f"({len(problems) - MAX_PROBLEMS} more problems)"] if len(problems) > MAX_PROBLEMS else []
        shown = problems[:MAX_PROBLEMS] + more
        raise InvalidFact(*shown)
    if rows_seen == 0:
        raise InvalidFact(f"{file}: no members (only a header)")
    return rows_seen, batches


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the import that started it dies, even by
    `kill -9` (nothing then tells the pool to stop), so that no orphan keeps reading the
    roster and holding the spool. Linux kills it at once (`prctl(PR_SET_PDEATHSIG)`); a
    watchdog thread noticing the new parent ends it within a second anywhere else."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the watchdog alone
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def _in_order(pool: concurrent.futures.ProcessPoolExecutor, tasks: list[Any]) -> Iterator[bytes]:
    """Results in task order, with a few tasks in flight (bounded memory)."""
    pending: list[concurrent.futures.Future[bytes]] = []
    for task in tasks:
        pending.append(pool.submit(check_range, task))
        if len(pending) > 2 * WORKERS:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def _spool(
    batch: _Batch, spool: Any, problems: list[str], rows: int, batches: int, progress: Progress | None
) -> tuple[int, int]:
    problems.extend(batch.problems)
    count = batch.last_line - batch.first_line + 1
    if not batch.problems and not problems:
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
        group: list[Parsed] = []
        labels: list[str] = []
        size = 0
        for batch in _spooled(spool):
            members = _members_decoder.decode(batch.members)
            done += batch.last_line - batch.first_line + 1
            if members:
                group.append(enrolment(insurer, members, batch_id(insurer, known_on, batch.digest), ctx, known_on))
                labels.append(f"lines {batch.first_line}-{batch.last_line}")
                size += len(members)
            if size >= APPEND_MEMBERS:
                result = await store.append_parsed(group, labels)
                appended, unchanged = appended + len(result.appended), unchanged + len(result.unchanged)
                group, labels, size = [], [], 0
                if progress is not None:
                    progress("append", done, total)
        if group:
            result = await store.append_parsed(group, labels)
            appended, unchanged = appended + len(result.appended), unchanged + len(result.unchanged)
        if progress is not None:
            progress("append", done, total)
    await store.catch_up()
    return {"insurer": insurer, "rows": total, "facts": batches, "appended": appended, "unchanged": unchanged}


def _spool_dir(store: Store) -> str | None:
    if store.path is None:  # PostgreSQL: the system's temporary folder
        return None
    folder = store.path.parent
    return str(folder) if folder.exists() and os.access(folder, os.W_OK) else None


async def export(store: Store, incident: str, h: queries.Horizon, insurer: str | None, fmt: str, sink: TextIO) -> int:
    """Write the affected members as CSV or JSON Lines; return how many."""
    await queries.require_incident(store.db, incident)  # before the header: an error writes nothing
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(queries.EXPORT_COLUMNS)
    chunks = queries.affected_chunks(store.db, incident, h, insurer)
    async with contextlib.aclosing(chunks):  # closed before the store, even when the reader goes away
        async for ins, fields, implied, rows in chunks:
            count += len(rows)
            if writer is not None:  # csv writes None as an empty cell; text a spreadsheet would run gets a '
                fixed = (cell(incident), cell(ins))
                exposed, revealed = cell(";".join(fields)), cell(";".join(implied))
                writer.writerows(
                    [
                        (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed)
                        for ref, role, contract, start, end, status in rows
                    ]
                )
                continue
            sink.write(
                "".join(
                    json.dumps(
                        {
                            "incident": incident,
                            "insurer": ins,
                            "ref": ref,
                            "role": role,
                            "contract": contract,
                            "from": start,
                            "until": end,
                            "status": status,
                            "fields": fields,
                            "implied": implied,
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    + "\n"
                    for ref, role, contract, start, end, status in rows
                )
            )
    sink.flush()
    return count
