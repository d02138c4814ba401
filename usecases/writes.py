"""Writing: record facts, import a roster, copy a store, follow the ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ledger import roster
from ledger.store import AppendResult, Store

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
    catch_up: bool = True,
) -> dict[str, Any]:
    """A roster CSV as batched `members-enrolled` facts, checked whole first (see `ledger.roster`);
    `catch_up=False` leaves its members to be projected while the next roster is checked."""
    return await roster.import_roster(
        store,
        insurer,
        file,
        known_on=known_on,
        batch_size=batch_size,
        progress=progress,
        options=options,
        warn=warn,
        catch_up=catch_up,
    )


async def import_rosters(
    store: Store,
    rosters: Sequence[tuple[str, str]],
    *,
    known_on: str | None = None,
    progress: Callable[[int, str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Many roster CSVs ((insurer, file) pairs) in a row, each as `import_roster` would import
    it, pipelined: a file is checked while the one before is appended (see `ledger.roster`)."""
    return await roster.import_rosters(store, rosters, known_on=known_on, progress=progress)
