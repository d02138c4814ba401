"""Opening a store, and the one way to a horizon: reads catch up first, the horizon is parsed once."""

from __future__ import annotations

from pathlib import Path

from domain.answers import Initialised
from ledger import backends, outcome
from ledger import store as stores
from ledger.store import Store, default_key_file
from projections.queries import Horizon
from usecases import When


async def open_store(
    location: str,
    key_file: Path | None,
    *,
    stored_bytes_only: bool = False,
    read_location: str | None = None,
    max_lag: float | None = None,
) -> Store:
    """The store at `location` with its key file (an encrypted one opens without it when only
    its `stored_bytes_only` are checked), answering from the replica `read_location` if given
    and waiting at most `max_lag` seconds for it (None: the store's default). The caller closes it."""
    lag = {} if max_lag is None else {"max_lag": max_lag}
    return await Store.open(location, key_file, stored_bytes_only=stored_bytes_only, read_location=read_location, **lag)


def files_of(location: str, key_file: Path | None) -> tuple[Path | None, Path]:
    """The SQLite file of the store at `location` (None for PostgreSQL) and its key file."""
    return backends.parse_location(location).path, key_file or default_key_file(location)


async def last_failure(store: Store) -> tuple[dict[str, str], str] | None:
    """The last failed verification kept in the store ({scope, at, problem}) and the command
    that clears it, or None."""
    failure = await outcome.last_failure(store)
    if failure is None:
        return None
    again = "exposure audit verify" + (" --projections" if failure["scope"] == outcome.PROJECTIONS_CHECKED else "")
    return failure, again


async def init(location: str, key_file: Path | None, *, timezone: str | None, encrypt: bool) -> Initialised:
    """Create the store and its key file (idempotent; on an existing store, another `timezone`
    or `encrypt` on a store kept in clear is refused): where they are, and whether they are new."""
    store, created = await Store.init(location, key_file, timezone=timezone, encrypt=encrypt or None)
    try:
        return Initialised(
            store=store.location.display,
            key_file=str(key_file or default_key_file(location)),
            timezone=store.tz.key,
            encrypted=store.encrypted,
            created=created,
        )
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
