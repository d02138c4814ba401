"""Many rosters in a row, pipelined: the next files are checked while this one is appended.

`import_roster` per file keeps the two passes of one file in order (check, then append)
and projects earlier rosters beside the check: the worker processes idle while the main
process appends. `import_rosters` checks the rosters one after another in a thread (its
worker processes do the work), up to `CHECKS_AHEAD` files (and `ROWS_AHEAD` rows) ahead of
the appends: the workers check through the appends and through the projection of the
earlier rosters, and the main process, once a projection ends, appends rosters already
checked. The facts, their ids and their order are those of `import_roster` called for each
file with `catch_up=False`, then one catch-up; a bad file stops the import where
`import_roster` would have (the rosters before it appended), whatever its check found
ahead of time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from ledger.roster.check import check_all
from ledger.roster.importer import BATCH, BESIDE_FACTS, Options, Ready, append_ready, new_spool, prepare
from ledger.roster.rows import Repeats
from ledger.roster.spool import Progress
from ledger.roster.typos import Warn
from ledger.roster.workers import WORKER_POOL, can_fork
from ledger.store import Store

CHECKS_AHEAD: Final = 8
ROWS_AHEAD: Final = 1_000_000
"""The check thread stops once this many rosters, or rosters of this many rows, wait for their
append (their spools on disk): enough to keep the workers busy through a projection."""


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
    the checks of the next files beside the append of this one and the projection of the
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

    def check(number: int) -> Ready:
        insurer, file = rosters[number]
        return _check(store, insurer, file, opts, batch_size, told(number))

    results: list[dict[str, Any]] = []
    checks = _Ahead(check, len(rosters))
    projecting: asyncio.Future[int] | None = None
    try:
        for number in range(len(rosters)):
            started = time.perf_counter()
            ready = await checks.next()
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
        await _settle(checks, projecting)
    return results


class _Ahead:
    """The checks of rosters 0..count-1, one after another in a thread, ahead of their
    appends (at most `CHECKS_AHEAD` rosters or `ROWS_AHEAD` rows waiting); `next()` gives
    them in order, and a failed check's error once the rosters before it are taken."""

    def __init__(self, check: Callable[[int], Ready], count: int) -> None:
        self.check, self.count = check, count
        self.ready: deque[Ready] = deque()
        self.failed: BaseException | None = None
        self.stopped = False
        self.changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    def _room(self) -> bool:
        return self.stopped or (len(self.ready) < CHECKS_AHEAD and sum(r.rows for r in self.ready) < ROWS_AHEAD)

    async def _wait(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    async def _run(self) -> None:
        for number in range(self.count):
            while not self._room():
                await self._wait()
            if self.stopped:
                return
            try:
                ready = await asyncio.to_thread(self.check, number)
            except BaseException as problem:  # noqa: BLE001 - raised by `next()`, in the roster's turn
                self.failed = problem
                self.changed.set()
                return
            self.ready.append(ready)
            self.changed.set()

    async def next(self) -> Ready:
        """The next roster's check (waited for), or its error."""
        while not self.ready:
            if self.failed is not None:
                raise self.failed
            await self._wait()
        ready = self.ready.popleft()
        self.changed.set()
        return ready

    async def close(self) -> None:
        """The check under way runs to its end (a thread cannot be stopped); every spool
        not appended is closed."""
        self.stopped = True
        self.changed.set()
        with contextlib.suppress(BaseException):
            await self.task
        while self.ready:
            self.ready.popleft().spool.file.close()


async def _projection(store: Store) -> int:
    """The projection of the rosters appended so far: on PostgreSQL the members projection on a
    connection of its own (`Store.catch_up_members_aside`), which goes on through the next
    rosters' appends (the server projects while this process appends); on SQLite the whole
    catch-up, finished before the next append (one writer)."""
    if store.projects_aside:
        return await store.catch_up_members_aside(store.ledger.last_notification())
    return await store.catch_up()


async def _settle(checks: _Ahead, projecting: asyncio.Future[int] | None) -> None:
    """At the end, or after a failure: the checks ahead stop (their spools closed); the
    projection under way finishes (the rosters before stay projected)."""
    await checks.close()
    if projecting is not None:
        with contextlib.suppress(Exception):
            await projecting
