"""Many rosters in a row, pipelined: the next file is checked while this one is appended.

`import_roster` per file keeps the two passes of one file in order (check, then append)
and projects earlier rosters beside the check: the worker processes idle while the main
process appends. `import_rosters` checks roster i+1 in a thread (its worker processes do
the work) from the moment roster i's check ends, through roster i's append and the
projection of the rosters before it; the main process appends and projects while the
workers check. The facts, their ids and their order are those of `import_roster` called
for each file with `catch_up=False`, then one catch-up; a bad file stops the import where
`import_roster` would have (the rosters before it appended), whatever its check found
ahead of time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from ledger.roster.check import check_all
from ledger.roster.importer import BATCH, BESIDE_FACTS, Options, Ready, append_ready, new_spool, prepare
from ledger.roster.rows import Repeats
from ledger.roster.spool import Progress
from ledger.roster.typos import Warn
from ledger.roster.workers import WORKER_POOL, can_fork
from ledger.store import Store


def _quiet(kind: str, **values: Any) -> None:
    """No warnings (a caller that did not ask for them)."""


def _check(store: Store, insurer: str, file: str, opts: Options, batch_size: int, progress: Progress | None) -> Ready:
    """Pass 1 of one file, in the check thread: its spool is the caller's to close."""
    ctx, shape = prepare(store, insurer, file, opts)
    spool = new_spool(store)
    try:
        repeats = Repeats()
        rows, batches = check_all(file, ctx.nir_key, batch_size, spool, progress, shape, repeats, beside=True)
        return Ready(insurer, opts, ctx, shape, spool, rows, batches, repeats.count())
    except BaseException:
        spool.file.close()
        raise


async def import_rosters(
    store: Store,
    rosters: Sequence[tuple[str, str]],
    *,
    known_on: str | None = None,
    batch_size: int = BATCH,
    progress: Callable[[int, str, int, int], None] | None = None,
    warn: Warn | None = None,
    phases: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Import `rosters` ((insurer, file) pairs) in order, each as `import_roster` would,
    the check of the next file beside the append of this one and the projection of the
    earlier ones (once `BESIDE_FACTS` facts wait); the projections are caught up at the end.
    Returns each roster's counts. `progress(number, phase, done, total)` hears of roster
    `number` (from 0) as `import_roster`'s progress does. `phases` (if given) accumulates the seconds spent
    waiting for a check ('check'), appending ('append') and waiting for a projection
    ('catch_up')."""
    say: Warn = warn or _quiet
    opts = Options(known_on=known_on)
    spent = phases if phases is not None else {}
    for name in ("check", "append", "catch_up"):
        spent.setdefault(name, 0.0)
    store.context()  # the keys, loaded by this thread before the check threads use them
    if can_fork():
        WORKER_POOL.get()  # forked by this thread, which outlives the check threads

    def told(number: int) -> Progress | None:
        return None if progress is None else functools.partial(progress, number)

    def ahead(number: int) -> asyncio.Future[Ready] | None:
        if number >= len(rosters):
            return None
        insurer, file = rosters[number]
        return asyncio.ensure_future(asyncio.to_thread(_check, store, insurer, file, opts, batch_size, told(number)))

    results: list[dict[str, Any]] = []
    checking = ahead(0)
    projecting: asyncio.Future[int] | None = None
    try:
        for number in range(len(rosters)):
            started = time.perf_counter()
            assert checking is not None  # noqa: S101 - one check per roster, started before its turn
            ready, checking = await checking, None
            checking = ahead(number + 1)
            waited = time.perf_counter()
            spent["check"] += waited - started
            if projecting is not None and not store.projects_aside:  # SQLite: one writer
                await projecting
                projecting = None
            appending = time.perf_counter()
            spent["catch_up"] += appending - waited
            with ready.spool.file:
                if ready.shape.ignored:
                    say("ignored_columns", columns=ready.shape.ignored)
                results.append(await append_ready(store, ready, told(number), say))
            spent["append"] += time.perf_counter() - appending
            if (projecting is None or projecting.done()) and await store.members_behind() >= BESIDE_FACTS:
                if projecting is not None:
                    await projecting  # done: its error, if any, is raised here
                projecting = asyncio.ensure_future(_projection(store))
        started = time.perf_counter()
        if projecting is not None:
            await projecting
            projecting = None
        await store.catch_up()
        spent["catch_up"] += time.perf_counter() - started
    finally:
        await _settle(checking, projecting)
    return results


async def _projection(store: Store) -> int:
    """The projection of the rosters appended so far: on PostgreSQL the members projection on a
    connection of its own (`Store.catch_up_members_aside`), which goes on through the next
    rosters' appends (the server projects while this process appends); on SQLite the whole
    catch-up, finished before the next append (one writer)."""
    if store.projects_aside:
        return await store.catch_up_members_aside(store.ledger.last_notification())
    return await store.catch_up()


async def _settle(checking: asyncio.Future[Ready] | None, projecting: asyncio.Future[int] | None) -> None:
    """After a failure: the check ahead runs to its end (a thread cannot be stopped) and its
    spool is closed; the projection under way finishes (the rosters before stay projected)."""
    if checking is not None:
        with contextlib.suppress(Exception):
            (await checking).spool.file.close()
    if projecting is not None:
        with contextlib.suppress(Exception):
            await projecting
