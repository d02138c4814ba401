"""Looking after the store itself: copy it, re-key it, rebuild its projections, follow it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from ledger import copying
from ledger.store import Store


async def copy(
    store: Store,
    target: str,
    key_file: Path,
    *,
    protection: str | None,
    to_key_file: Path | None,
    force: bool,
) -> tuple[str, str, int, Path]:
    """Copy every fact of `store` (whose key file is `key_file`) into a new store at `target`
    (verified first; `protection`:
    "encrypt", "decrypt" or None for the source's own); where from, where to, how many facts,
    and the copy's key file. The copy is closed again."""
    copied, count, copy_key = await copying.copy_store(
        store,
        target,
        key_file,
        protection=copying.protection(protection),
        target_key_file=to_key_file,
        force=force,
    )
    try:
        return store.location.display, copied.location.display, count, copy_key
    finally:
        await copied.close()


async def rotate_file_key(store: Store) -> None:
    """Re-encrypt a SQLCipher store under a new file key and rewrite its key file."""
    await store.rotate_file_key()


async def rebuild(store: Store, progress: Callable[[str, int, int], None] | None = None) -> int:
    """Drop the projections and project every fact again; the position reached."""
    return await store.rebuild(progress)


async def follow(store: Store, stop: threading.Event, interval: float, problem: Callable[[str], None]) -> int:
    """Keep the projections current until `stop` is set: woken by eventsourcing's subscription
    on PostgreSQL (a subscription that ends is told to `problem` and stops following), polled
    every `interval` seconds on SQLite. The position reached."""
    if store.location.is_postgres:
        await _follow_subscription(store, stop, problem)
    else:
        while not stop.is_set():
            await asyncio.sleep(interval)
            await store.catch_up()
    return (await store.horizon()).position


async def _follow_subscription(store: Store, stop: threading.Event, problem: Callable[[str], None]) -> None:
    """Wake on each notification from eventsourcing's subscription and catch up."""
    woken = asyncio.Event()
    loop = asyncio.get_running_loop()
    last = store.ledger.last_notification()

    def listen() -> None:
        try:
            with store.ledger.subscribe(last) as subscription:
                for _notification in subscription:
                    loop.call_soon_threadsafe(woken.set)
                    if stop.is_set():
                        return
        except Exception as ended:  # noqa: BLE001 - report and stop following, never swallow silently
            loop.call_soon_threadsafe(woken.set)
            problem(str(ended))
            stop.set()

    threading.Thread(target=listen, daemon=True).start()
    while not stop.is_set():
        try:
            await asyncio.wait_for(woken.wait(), timeout=1.0)
        except TimeoutError:
            continue
        woken.clear()
        await store.catch_up()
