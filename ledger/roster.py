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

import asyncio
import atexit
import concurrent.futures
import contextlib
import csv
import ctypes
import functools
import hashlib
import io
import json
import multiprocessing
import os
import re
import signal
import stat
import struct
import tempfile
import threading
import time
from array import array
from collections.abc import AsyncGenerator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain import times
from domain.categories import implied
from domain.csv_cells import cell
from domain.errors import InvalidFact, LedgerError
from domain.facts import Member
from domain.nir import pseudonymiser
from domain.parse import Parsed, enrolment, roster_member
from ledger.store import Store
from projections import history, queries

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
BESIDE_FACTS: Final = 40
"""Facts left unprojected by `catch_up=False` imports (roster batches of up to `BATCH` members)
before the next import projects them beside its check pass. Fewer, larger catch-ups: each
one after an append re-reads the pages it touches (the append, on another connection,
empties the read side's page cache), and on a SQLCipher file each page read is decrypted
and authenticated, each page written at a commit encrypted."""
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
    repeats: int = 0
    """Rows of this batch that repeat a ref of an earlier row of the same batch."""
    refs: bytes = b""
    """The hashes of the batch's refs (int64), to find repeats across batches."""


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


SEPARATORS: Final = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class Layout:
    """How a roster file is laid out: its separator, where each of COLUMNS is (-1: absent),
    how many columns a row has, and the columns it has beyond COLUMNS (ignored)."""

    separator: str
    positions: list[int]
    width: int
    ignored: list[str]


def separator_of(line: str) -> str:
    """The separator of a header line: the most frequent of `,` `;` and tab (`,` on a tie)."""
    counts = [(line.count(sep), -number, sep) for number, sep in enumerate(SEPARATORS)]
    return max(counts)[2]


def _name(text: str) -> str:
    return " ".join(text.strip().lower().split())


def layout(file: str, header: list[str] | None, separator: str, renames: Mapping[str, str] | None = None) -> Layout:
    """The layout of a header: names in any case with surrounding spaces, renamed by `renames`
    (file name -> roster column; an empty target ignores the column quietly), other names ignored."""
    if not header or not any(h.strip() for h in header):
        raise InvalidFact(f"{file}: empty file (expected a header with at least ref: ref,role,contract,from,until,nir)")
    mapping = {_name(k): _name(v) for k, v in (renames or {}).items()}
    names = [mapping.get(_name(h), _name(h)) for h in header]
    known = [n for n in names if n in COLUMNS]
    twice = sorted({n for n in known if known.count(n) > 1})
    if twice:
        raise InvalidFact(f"{file}: the header names {', '.join(twice)} more than once")
    if "ref" not in known:
        raise InvalidFact(
            f"{file}: the header has no ref column (roster columns: {', '.join(COLUMNS)};"
            f" got {separator.join(h.strip() for h in header)}; rename one with --map NAME=ref)"
        )
    quiet = {_name(k) for k, v in (renames or {}).items() if not v.strip()}
    ignored = [h.strip() for h, n in zip(header, names, strict=True) if n not in COLUMNS and _name(h) not in quiet]
    return Layout(separator, [names.index(c) if c in names else -1 for c in COLUMNS], len(header), ignored)


def read_layout(file: str, renames: Mapping[str, str] | None = None) -> Layout:
    """The layout of a roster file, read from its header line."""
    csv.field_size_limit(MAX_FIELD)
    with _open(file) as handle:
        try:
            first = handle.readline(MAX_FIELD)
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
        separator = separator_of(first)
        handle.seek(0)
        try:
            header = next(csv.reader(handle, delimiter=separator), None)  # a quoted name may hold a line break
        except csv.Error as problem:
            raise InvalidFact(f"line 1: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
    return layout(file, header, separator, renames)


def _chunks(file: str, batch_size: int, shape: Layout) -> Iterator[tuple[list[int], list[list[str]], Layout]]:
    """(line numbers, rows, layout) in batches, after the header."""
    csv.field_size_limit(MAX_FIELD)
    with _open(file) as handle:
        reader = csv.reader(handle, delimiter=shape.separator)
        try:
            next(reader, None)
            lines: list[int] = []
            rows: list[list[str]] = []
            for row in reader:
                lines.append(reader.line_num)
                rows.append(row)
                if len(rows) >= batch_size:
                    yield lines, rows, shape
                    lines, rows = [], []
            if rows:
                yield lines, rows, shape
        except csv.Error as problem:
            raise InvalidFact(f"line {reader.line_num}: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None


def check_batch(key: bytes, lines: Sequence[int], rows: list[list[str]], shape: Layout) -> _Batch:
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
    encoded = _members_encoder.encode(tuple(members.values())) if not problems else b"[]"
    # Each ref's hash, to count the rows that repeat a ref of an earlier batch (workers are
    # forked, so they share the main process's string hashes).
    refs = array("q", map(hash, members)).tobytes()
    return _Batch(lines[0], lines[-1], digest.hexdigest(), encoded, problems, valid - len(members), refs)


_checked_encoder = msgspec.msgpack.Encoder()
_checked_decoder = msgspec.msgpack.Decoder(_Checked)


def check_range(task: tuple[str, bytes, Layout, int, int, int, int]) -> bytes:
    """Worker: read bytes [start, end) of the file (whole lines, no quotes), check them in
    batches of `batch_size` rows whose first line is `first_line`; an encoded `_Checked`."""
    file, key, shape, start, end, first_line, batch_size = task
    csv.field_size_limit(MAX_FIELD)
    with Path(file).open("rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        return _checked_encoder.encode(_Checked([], f"{file}: not UTF-8 text (byte {start + problem.start})"))
    del data
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=shape.separator)
    batches: list[_Batch] = []
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
        return _checked_encoder.encode(_Checked(batches, f"line {first_line + reader.line_num - 1}: {problem}"))
    if rows:
        batches.append(check_batch(key, range(line, line + len(rows)), rows, shape))
    return _checked_encoder.encode(_Checked(batches))


def _plan(file: str, batch_size: int, task_batches: int = TASK_BATCHES) -> list[tuple[int, int, int]] | None:
    """The (start, end, first line) byte ranges of `task_batches` batches each,
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
        per_task = task_batches * batch_size
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
    return ranges


class Repeats:
    """Counts the rows that repeat a ref seen earlier in the file (re-enrolments), in bounded
    memory: 8 bytes per member, in 256 buckets counted one at a time at the end."""

    def __init__(self) -> None:
        self.within = 0
        self._buckets = [array("q") for _ in range(256)]

    def add(self, batch: _Batch) -> None:
        self.within += batch.repeats
        hashes = array("q")
        hashes.frombytes(batch.refs)
        buckets = self._buckets
        for value in hashes:
            buckets[value & 255].append(value)

    def count(self) -> int:
        """Rows whose ref an earlier row of the file already had."""
        across = 0
        for number, bucket in enumerate(self._buckets):
            across += len(bucket) - len(set(bucket))
            self._buckets[number] = array("q")
        return self.within + across


def _check_all(
    file: str,
    key: bytes,
    batch_size: int,
    spool: _Spool,
    progress: Progress | None,
    shape: Layout,
    repeats: Repeats,
    *,
    beside: bool = False,
) -> tuple[int, int]:
    """Pass 1: validate every row into the spool. Returns (rows, batches).

    A large file is checked by worker processes, and so is every file when `beside` (the
    main process projects earlier rosters meanwhile, or will: the check leaves it the core)."""
    problems: list[str] = []
    rows_seen = batches = 0
    big = Path(file).stat().st_size > PARALLEL_ABOVE_BYTES
    ranges = _plan(file, batch_size, TASK_BATCHES if big else 1)
    parallel = (big or beside) and ranges is not None and can_fork()
    if ranges is not None:
        tasks = [(file, key, shape, start, end, line, batch_size) for start, end, line in ranges]
        results = _in_order(WORKER_POOL.get(), tasks) if parallel else (check_range(task) for task in tasks)
        with contextlib.closing(results):
            for encoded in results:
                checked = _checked_decoder.decode(encoded)
                for batch in checked.batches:
                    repeats.add(batch)
                    rows_seen, batches = _spool(batch, spool, problems, rows_seen, batches, progress)
                if checked.fatal is not None:
                    raise InvalidFact(checked.fatal)
    else:
        for lines, rows, same in _chunks(file, batch_size, shape):
            batch = check_batch(key, lines, rows, same)
            repeats.add(batch)
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


class WorkerPool:
    """The check pass's worker processes: forked once per process, on first use, and kept
    for the next roster (forking a pool per file cost more than checking a small file).
    Forked, they share the main process's str hashes (see `Repeats`)."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> concurrent.futures.ProcessPoolExecutor:
        """The pool, its workers forked by the calling thread on first use: call it first
        from the thread that lives as long as the process (the workers die with the thread
        that forked them: `die_with_parent`)."""
        with self._lock:
            if self._pool is None:
                pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=WORKERS,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=die_with_parent,
                    initargs=(os.getpid(),),
                )
                pool.submit(os.getpid).result()  # a fork pool starts every worker at its first task
                self._pool = pool
                atexit.register(self.close)  # joined before the interpreter tears its modules down
            return self._pool

    def close(self) -> None:
        """End the workers and wait for them (their CPU time is then the caller's children's)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def discard(self) -> None:
        """Forget a pool whose worker died (the next roster starts a new one)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


WORKER_POOL: Final = WorkerPool()


def _in_order(pool: concurrent.futures.ProcessPoolExecutor, tasks: list[Any]) -> Generator[bytes]:
    """Results in task order, with a few tasks in flight (bounded memory); the tasks not
    done are cancelled when the reader stops early (a bad row)."""
    pending: list[concurrent.futures.Future[bytes]] = []
    try:
        for task in tasks:
            pending.append(pool.submit(check_range, task))
            if len(pending) > 2 * WORKERS:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    except concurrent.futures.process.BrokenProcessPool:
        WORKER_POOL.discard()
        raise
    finally:
        for future in pending:
            future.cancel()


class _Spool:
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


def _spool(
    batch: _Batch, spool: _Spool, problems: list[str], rows: int, batches: int, progress: Progress | None
) -> tuple[int, int]:
    problems.extend(batch.problems)
    count = batch.last_line - batch.first_line + 1
    if not batch.problems and not problems:
        spool.put(msgspec.msgpack.encode(batch))
    if progress is not None:
        progress("check", rows + count, 0)
    return rows + count, batches + 1


def _spooled(spool: _Spool) -> Iterator[_Batch]:
    for data in spool:
        yield msgspec.msgpack.decode(data, type=_Batch)


def batch_id(insurer: str, known_on: str | None, digest: str, given: Sequence[str | None] = ()) -> str:
    """A name-based id: the same batch of the same roster always gets the same id (`given`:
    the --source, --note and --by given, if any: another note is another fact)."""
    parts: list[Any] = [insurer, known_on, digest]
    if any(v is not None for v in given):
        parts.append(list(given))
    name = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    return f"roster-{insurer}-{name}"


@dataclass(frozen=True, slots=True)
class Options:
    """What `members import` takes besides the file: its known_on, column renames, the
    common keys of the facts it records, and whether a new insurer is expected."""

    known_on: str | None = None
    renames: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    note: str | None = None
    by: str | None = None
    new_insurer: bool = False


class Warn(Protocol):
    """Where warnings go: `warn(kind, **values)`; the command line words them (in its language)."""

    def __call__(self, kind: str, **values: Any) -> None: ...


def _quiet(kind: str, **values: Any) -> None:
    """No warnings (a caller that did not ask for them)."""


async def import_roster(
    store: Store,
    insurer: str,
    file: str,
    *,
    known_on: str | None = None,
    batch_size: int = BATCH,
    progress: Progress | None = None,
    options: Options | None = None,
    warn: Warn | None = None,
    catch_up: bool = True,
) -> dict[str, Any]:
    """Check the whole roster, then append it batch by batch; return counts.

    Rosters appended before and not projected yet (`catch_up=False` leaves this one so)
    are projected while this file is checked, once `BESIDE_FACTS` facts wait (or this import
    catches up anyway), the check then running in worker processes: importing many rosters
    in a row, the main process projects rosters while the workers check the next (both
    cores busy).

    Warns (through `warn`) about columns it ignores, rows that repeat a ref (re-enrolments),
    a file already imported under another known_on, and an insurer no fact has named yet
    (with the known insurer within two edits, if any): a typo must not hold a roster unseen.
    """
    opts = options or Options(known_on=known_on)
    known_on = opts.known_on if options is not None else known_on
    say: Warn = warn or _quiet
    if known_on is not None:
        times.parse_instant(known_on, "--known-on", store.tz)
    ctx = store.context(opts.by)
    enrolment(insurer, (), "check", ctx, known_on, source=opts.source, note=opts.note)  # reject bad keys early
    shape = read_layout(file, opts.renames)
    if shape.ignored:
        say("ignored_columns", columns=shape.ignored)
    given = (opts.source, opts.note, opts.by)
    repeats = Repeats()
    with tempfile.TemporaryFile(prefix="exposure-roster-", dir=_spool_dir(store)) as spool_file:
        spool = _Spool(spool_file, sealed=store.encrypted or store.file_encrypted)
        check = functools.partial(_check_all, file, ctx.nir_key, batch_size, spool, progress, shape, repeats)
        behind = await store.members_behind()
        if behind >= BESIDE_FACTS or (behind and catch_up):
            total, batches = await _beside_catch_up(store, functools.partial(check, beside=True))
        else:  # in a row of rosters (`catch_up=False`), the workers check even small files
            total, batches = check(beside=not catch_up)
        repeated = repeats.count()
        if repeated:
            say("repeated_rows", count=repeated)
        await _announce(store, insurer, opts.new_insurer, say)
        await _already_imported(store, insurer, spool, batch_id, known_on, given, say)
        appended = unchanged = done = 0
        group: list[Parsed] = []
        labels: list[str] = []
        size = 0
        for batch in _spooled(spool):
            members = _members_decoder.decode(batch.members)
            done += batch.last_line - batch.first_line + 1
            if members:
                fact_id = batch_id(insurer, known_on, batch.digest, given)
                group.append(enrolment(insurer, members, fact_id, ctx, known_on, source=opts.source, note=opts.note))
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
    if catch_up:
        await store.catch_up()
    return {
        "insurer": insurer,
        "rows": total,
        "facts": batches,
        "appended": appended,
        "unchanged": unchanged,
        "repeated_rows": repeated,
        "ignored_columns": shape.ignored,
    }


def can_fork() -> bool:
    """Whether the check pass may use worker processes (more than one core)."""
    return (os.cpu_count() or 1) > 1


async def _beside_catch_up(store: Store, check: Callable[[], tuple[int, int]]) -> tuple[int, int]:
    """Run the check pass in a thread (its workers do the work) while the event loop catches
    the projections up; the catch-up is finished (or has failed) when this returns."""
    if can_fork():
        WORKER_POOL.get()  # forked by this thread, which outlives the check's thread
    projecting = asyncio.ensure_future(store.catch_up())
    try:
        checked = await asyncio.to_thread(check)
    except BaseException:
        with contextlib.suppress(Exception):
            await projecting  # earlier rosters' projection: finished, whatever this file holds
        raise
    await projecting
    return checked


MAX_EDITS: Final = 2


def edits(a: str, b: str, limit: int = MAX_EDITS) -> int:
    """The Levenshtein distance between `a` and `b`, or `limit + 1` once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


_DIGITS = re.compile(r"\d+")


def near(insurer: str, known: Sequence[str]) -> list[str]:
    """Known insurers within two edits of `insurer`, closest first; ids that differ only in
    their numbers (ins-01, ins-02) are a series, not typos."""
    shape = _DIGITS.sub("#", insurer)
    found = [(edits(insurer, k), k) for k in known if _DIGITS.sub("#", k) != shape]
    return [k for d, k in sorted(found) if d <= MAX_EDITS]


async def _announce(store: Store, insurer: str, expected: bool, say: Warn) -> None:
    """Say that `insurer` is new to the ledger (unless --new-insurer), and which known one it may mean."""
    known = await queries.insurers_ever(store.db)
    if insurer in known or expected:
        return
    say("new_insurer", insurer=insurer, near=near(insurer, known)[:3])


async def _already_imported(
    store: Store,
    insurer: str,
    spool: _Spool,
    ids: Callable[[str, str | None, str, Sequence[str | None]], str],
    known_on: str | None,
    given: Sequence[str | None],
    say: Warn,
) -> None:
    """Warn when the file's first batch is already enrolled, member for member, by a roster
    fact with another id (the same file imported under another --known-on, --source, ...)."""
    first = next(_spooled(spool), None)
    if first is None:
        return
    members = _members_decoder.decode(first.members)
    if not members:
        return
    ours = ids(insurer, known_on, first.digest, given)
    earlier = await queries.enrolled_by(store.db, insurer, members)
    if any(fact_id == ours for fact_id, _ in earlier):
        return  # this very import, run again: nothing is appended
    for fact_id, known in earlier:
        say("already_imported", fact=fact_id, known_on=known)
        return


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
    insurers = [insurer] if insurer is not None else await queries.roster_insurers(store.db, h)
    for name in insurers:
        async for ins, fields, implied_fields, rows, told_column in _told_chunks(store, incident, h, name):
            count += len(rows)
            if not told_column:  # no notice: nobody was told (the rows are the export's own, as read)
                rows = [(*row, None) for row in rows] if writer is None else rows  # noqa: PLW2901
            if writer is not None:  # csv writes None as an empty cell; text a spreadsheet would run gets a '
                fixed = (cell(incident), cell(ins))
                exposed, revealed = cell(";".join(fields)), cell(";".join(implied_fields))
                if told_column:
                    writer.writerows(
                        [
                            (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed, told)
                            for ref, role, contract, start, end, status, told in rows
                        ]
                    )
                else:
                    writer.writerows(
                        [
                            (*fixed, cell(ref), role, cell(contract), start, end, status, exposed, revealed, None)
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
                            "implied": implied_fields,
                            "notified_at": told,
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    + "\n"
                    for ref, role, contract, start, end, status, told in rows
                )
            )
    sink.flush()
    return count


async def _told_chunks(
    store: Store, incident: str, h: queries.Horizon, insurer: str
) -> AsyncGenerator[tuple[str, list[str], list[str], Sequence[tuple[Any, ...]], bool], None]:
    """One insurer's affected members in ref order with when each was last told, in chunks of
    (insurer, fields, implied, rows of (ref, role, contract, from, until, status[, notified_at]),
    whether the rows hold `notified_at`). With notices, `notified_at` comes from `notify
    members`' SQL in the same stream (memory does not grow with the members told); without,
    the export's own pass runs and nobody was told."""
    if await history.has_member_notices(store.db, incident, insurer, h):
        view = await queries.incident_view(store.db, incident, h)
        fields = view.exposed_fields(insurer)
        chunks = history.affected_notified_chunks(store.db, incident, insurer, h)
        async with contextlib.aclosing(chunks):
            async for rows in chunks:
                yield insurer, fields, implied(fields), rows, True
        return
    plain = queries.affected_chunks(store.db, incident, h, insurer)
    async with contextlib.aclosing(plain):  # closed before the store, even when the reader goes away
        async for ins, fields, revealed, members in plain:
            yield ins, fields, revealed, members, False
