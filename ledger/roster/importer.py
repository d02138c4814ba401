"""Pass 2: spooled batches appended as `members-enrolled` facts, resumable and idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import msgspec

from domain import times
from domain.facts import Member
from domain.parse import Context, Parsed, enrolment
from ledger.roster.check import check_all
from ledger.roster.csv_layout import Layout, read_layout
from ledger.roster.rows import REF_BYTES, Batch, Repeats, members_decoder
from ledger.roster.spool import Progress, Spool, spool_dir, spooled
from ledger.roster.typos import Warn, announce
from ledger.roster.workers import WORKER_POOL, can_fork
from ledger.store import Store
from projections import queries

BATCH: Final = 5_000
BESIDE_FACTS: Final = 40
"""Facts left unprojected by `catch_up=False` imports (roster batches of up to `BATCH` members)
before the next import projects them beside its check pass. Fewer, larger catch-ups: each
one after an append re-reads the pages it touches (the append, on another connection,
empties the read side's page cache), and on a SQLCipher file each page read is decrypted
and authenticated, each page written at a commit encrypted."""
APPEND_MEMBERS: Final = 40_000
"""Batches are appended a few at a time, up to this many members per transaction (one fact each)."""


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


def _quiet(kind: str, **values: Any) -> None:
    """No warnings (a caller that did not ask for them)."""


@dataclass(frozen=True, slots=True)
class Ready:
    """A roster file checked into its spool: what its append needs."""

    insurer: str
    opts: Options
    ctx: Context
    shape: Layout
    spool: Spool
    rows: int
    batches: int
    repeated: int


def prepare(store: Store, insurer: str, file: str, opts: Options) -> tuple[Context, Layout]:
    """What is checked before the rows: the known_on, the fact's keys, the header."""
    if opts.known_on is not None:
        times.parse_instant(opts.known_on, "--known-on", store.tz)
    ctx = store.context(opts.by)
    enrolment(insurer, (), "check", ctx, opts.known_on, source=opts.source, note=opts.note)  # reject bad keys early
    return ctx, read_layout(file, opts.renames)


def new_spool(store: Store) -> Spool:
    """An empty spool in an unnamed temporary file (closed by the caller: `spool.file`)."""
    spool_file = tempfile.TemporaryFile(prefix="exposure-roster-", dir=spool_dir(store))  # noqa: SIM115
    return Spool(spool_file, sealed=store.encrypted or store.file_encrypted)


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
    cores busy). `ledger.roster.pipeline.import_rosters` goes further for many files.

    Warns (through `warn`) about columns it ignores, rows that repeat a ref (re-enrolments),
    a file already imported under another known_on, and an insurer no fact has named yet
    (with the known insurer within two edits, if any): a typo must not hold a roster unseen.
    """
    opts = options or Options(known_on=known_on)
    say: Warn = warn or _quiet
    ctx, shape = prepare(store, insurer, file, opts)
    if shape.ignored:
        say("ignored_columns", columns=shape.ignored)
    repeats = Repeats()
    spool = new_spool(store)
    async with _projected_aside() as aside:
        with spool.file:
            check = functools.partial(check_all, file, ctx.nir_key, batch_size, spool, progress, shape, repeats)
            behind = await store.members_behind()
            if behind >= BESIDE_FACTS or (behind and catch_up):
                total, batches = await _beside_catch_up(store, functools.partial(check, beside=True), aside)
            else:  # in a row of rosters (`catch_up=False`), the workers check even small files
                total, batches = check(beside=not catch_up)
            ready = Ready(insurer, opts, ctx, shape, spool, total, batches, repeats.count())
            result = await append_ready(store, ready, progress, say)
    if catch_up:
        await store.catch_up()
    return result


async def append_ready(store: Store, ready: Ready, progress: Progress | None, say: Warn) -> dict[str, Any]:
    """Pass 2: the checked batches of `ready` appended as facts, a few per transaction; counts."""
    insurer, opts, ctx, spool = ready.insurer, ready.opts, ready.ctx, ready.spool
    known_on = opts.known_on
    given = (opts.source, opts.note, opts.by)
    if ready.repeated:
        say("repeated_rows", count=ready.repeated)
    await announce(store, insurer, opts.new_insurer, say)
    await _already_imported(store, insurer, spool, batch_id, known_on, given, say)
    appended = unchanged = done = 0
    group: list[Parsed] = []
    labels: list[str] = []
    size = 0
    for batch in spooled(spool):
        count = len(batch.refs) // REF_BYTES  # one hash per member of the batch
        done += batch.last_line - batch.first_line + 1
        if count:
            fact_id = batch_id(insurer, known_on, batch.digest, given)
            group.append(
                enrolment(insurer, _spliced(batch), fact_id, ctx, known_on, source=opts.source, note=opts.note)
            )
            labels.append(f"lines {batch.first_line}-{batch.last_line}")
            size += count
        if size >= APPEND_MEMBERS:
            result = await store.append_parsed(group, labels)
            appended, unchanged = appended + len(result.appended), unchanged + len(result.unchanged)
            group, labels, size = [], [], 0
            if progress is not None:
                progress("append", done, ready.rows)
    if group:
        result = await store.append_parsed(group, labels)
        appended, unchanged = appended + len(result.appended), unchanged + len(result.unchanged)
    if progress is not None:
        progress("append", done, ready.rows)
    return {
        "insurer": insurer,
        "rows": ready.rows,
        "facts": ready.batches,
        "appended": appended,
        "unchanged": unchanged,
        "repeated_rows": ready.repeated,
        "ignored_columns": ready.shape.ignored,
    }


def _spliced(batch: Batch) -> tuple[Member, ...]:
    """The batch's members as the check worker encoded them (`check_batch`: the canonical JSON of
    a tuple of `Member`, by the encoder of `domain.facts`), written into the fact's JSON as they
    are: decoding them here to encode them again cost 0.5 s per million members. Only the
    fact's encoding reads them (the rules read a roster's members only when a fact of the
    same append names members, and a roster import appends rosters only);
    `tests/ledger/test_roster_spliced.py` checks the stored facts are canonical."""
    return cast(tuple[Member, ...], msgspec.Raw(batch.members))


@contextlib.asynccontextmanager
async def _projected_aside() -> AsyncIterator[list[asyncio.Future[int]]]:
    """Catch-ups started aside (`_beside_catch_up`) are finished, or have failed, when this exits;
    an error of the import itself wins over theirs."""
    aside: list[asyncio.Future[int]] = []
    try:
        yield aside
    except BaseException:
        for projecting in aside:
            with contextlib.suppress(Exception):
                await projecting
        raise
    for projecting in aside:
        await projecting


async def _beside_catch_up(
    store: Store, check: Callable[[], tuple[int, int]], aside: list[asyncio.Future[int]]
) -> tuple[int, int]:
    """Run the check pass in a thread (its workers do the work) while the event loop catches
    the projections up; the catch-up is finished (or has failed) when this returns.

    On PostgreSQL the members projection runs on a connection of its own (`Store.catch_up_members_aside`,
    up to the facts appended so far): it goes on through this roster's appends and is awaited
    by `_projected_aside`, so the server projects earlier rosters while this process appends."""
    if can_fork():
        WORKER_POOL.get()  # forked by this thread, which outlives the check's thread
    if store.projects_aside:
        aside.append(asyncio.ensure_future(store.catch_up_members_aside(store.ledger.last_notification())))
        return await asyncio.to_thread(check)
    projecting = asyncio.ensure_future(store.catch_up())
    try:
        checked = await asyncio.to_thread(check)
    except BaseException:
        with contextlib.suppress(Exception):
            await projecting  # earlier rosters' projection: finished, whatever this file holds
        raise
    await projecting
    return checked


async def _already_imported(
    store: Store,
    insurer: str,
    spool: Spool,
    ids: Callable[[str, str | None, str, Sequence[str | None]], str],
    known_on: str | None,
    given: Sequence[str | None],
    say: Warn,
) -> None:
    """Warn when the file's first batch is already enrolled, member for member, by a roster
    fact with another id (the same file imported under another --known-on, --source, ...)."""
    first = next(spooled(spool), None)
    if first is None:
        return
    members = members_decoder.decode(first.members)
    if not members:
        return
    ours = ids(insurer, known_on, first.digest, given)
    earlier = await queries.enrolled_by(store.db, insurer, members)
    if any(fact_id == ours for fact_id, _ in earlier):
        return  # this very import, run again: nothing is appended
    for fact_id, known in earlier:
        say("already_imported", fact=fact_id, known_on=known)
        return
