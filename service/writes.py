"""Writing: record facts, import a roster, copy a store, follow the ledger."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ledger import copying, roster
from ledger.store import AppendResult, Store, default_key_file

ROSTER_BATCH = roster.BATCH
"""Members per `members-enrolled` fact unless told otherwise."""
ROSTER_COLUMNS = roster.COLUMNS
"""The roster columns exposure reads (others are ignored)."""
RosterOptions = roster.Options


async def record(
    store: Store, items: Sequence[tuple[str, object]], *, by: str | None = None, problems: Sequence[str] = ()
) -> AppendResult:
    """Parse, validate and append labelled fact objects, all or nothing (`by`: the author, default
    the OS user; `problems`: errors found before parsing, reported with those of the facts)."""
    return await store.append(items, by=by, problems=problems)


async def import_roster(
    store: Store,
    insurer: str,
    file: str,
    *,
    known_on: str | None = None,
    batch_size: int = ROSTER_BATCH,
    progress: Any = None,
    options: RosterOptions | None = None,
    warn: Any = None,
) -> dict[str, Any]:
    """A roster CSV as batched `members-enrolled` facts, checked whole first (see `ledger.roster`)."""
    return await roster.import_roster(
        store, insurer, file, known_on=known_on, batch_size=batch_size, progress=progress, options=options, warn=warn
    )


async def copy_store(store: Store, target: str, key_file: Path | None) -> dict[str, Any]:
    """Every fact of `store`, in order, into a new store at `target` sharing its key file."""
    key = key_file or default_key_file(store.location.text)
    copy, count = await copying.copy_store(store, target, key)
    try:
        return {"from": store.location.display, "to": copy.location.display, "facts": count, "key_file": str(key)}
    finally:
        await copy.close()


async def follow(store: Store, stop: threading.Event, interval: float, on_error: Callable[[str], None]) -> None:
    """Keep the projections current until `stop` is set: woken by each new fact on PostgreSQL
    (eventsourcing's subscription, LISTEN/NOTIFY), polling every `interval` seconds on SQLite."""
    if not store.location.is_postgres:
        while not stop.is_set():
            await asyncio.sleep(interval)
            await store.catch_up()
        return
    woken = asyncio.Event()
    loop = asyncio.get_running_loop()
    last = store.ledger.last_notification()

    def listen() -> None:
        try:
            with store.ledger.subscribe(after=last) as subscription:
                for _ in subscription:
                    loop.call_soon_threadsafe(woken.set)
                    if stop.is_set():
                        return
        except Exception as problem:  # noqa: BLE001 - reported, and following stops: never swallowed
            loop.call_soon_threadsafe(woken.set)
            on_error(f"the subscription ended: {problem}")
            stop.set()

    threading.Thread(target=listen, daemon=True).start()
    while not stop.is_set():
        try:
            await asyncio.wait_for(woken.wait(), timeout=1.0)
        except TimeoutError:
            continue
        woken.clear()
        await store.catch_up()
