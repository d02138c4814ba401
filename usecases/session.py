"""Opening a store, and the one way to a horizon: reads catch up first, the horizon is parsed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger import store as stores
from ledger.store import Store, default_key_file
from projections.queries import Horizon
from usecases import When


async def open_store(
    location: str, key_file: Path | None, *, read_location: str | None = None, max_lag: float | None = None
) -> Store:
    """The store at `location` with its key file, answering from the replica `read_location` if
    given and waiting at most `max_lag` seconds for it (None: the store's default). The caller closes it."""
    if max_lag is None:  # the store's default
        return await Store.open(location, key_file, read_location=read_location)
    return await Store.open(location, key_file, read_location=read_location, max_lag=max_lag)


async def init(location: str, key_file: Path | None, *, timezone: str | None, encrypt: bool) -> dict[str, Any]:
    """Create the store and its key file (idempotent; on an existing store, another `timezone`
    or `encrypt` on a store kept in clear is refused): where they are, and whether they are new."""
    store, created = await Store.init(location, key_file, timezone=timezone, encrypt=encrypt or None)
    try:
        return {
            "store": store.location.display,
            "key_file": str(key_file or default_key_file(location)),
            "timezone": store.tz.key,
            "encrypted": store.encrypted,
            "created": created,
        }
    finally:
        await store.close()


def exists(location: str) -> bool:
    """Whether a store (or, for SQLite, any file) is already at `location`."""
    return stores.exists(location)


async def create(location: str, key_file: Path | None = None, *, timezone: str = "UTC") -> Store:
    """A new store, or the one at `location`, opened (the caller closes it)."""
    store, _ = await Store.init(location, key_file, timezone=timezone)
    return store


async def horizon(store: Store, when: When, *, known_name: str = "--as-known-on") -> Horizon:
    """The one way to a horizon: reads catch up first (`Store.ready_for_reads`: the projections
    reach the ledger's head, a replica replays them), then `when` is parsed, once, in the
    ledger's zone (a date means the end of that day; `known_name` names it in errors)."""
    return await store.horizon(when.known_on, when.recorded_at, known_name=known_name)


async def catch_up(store: Store) -> int:
    """Bring the projections up to the ledger's head; the position reached."""
    return await store.catch_up()


__all__ = ["Horizon", "Store"]
