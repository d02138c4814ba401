"""Writing: record facts, import a roster, copy a store, follow the ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ledger.store import AppendResult, Store

if TYPE_CHECKING:
    from ledger.roster import Options

    RosterOptions = Options

_FROM_ROSTER = {"ROSTER_BATCH": "BATCH", "ROSTER_COLUMNS": "COLUMNS", "RosterOptions": "Options"}
"""`ROSTER_BATCH` (members per `members-enrolled` fact unless told otherwise), `ROSTER_COLUMNS`
(the roster columns exposure reads) and `RosterOptions`, read from `ledger.roster` on first use:
`record` never loads the roster import's machinery (worker processes, CSV, its cipher), a
tenth of its start-up."""


def __getattr__(name: str) -> Any:
    if name in _FROM_ROSTER:
        from ledger import roster  # noqa: PLC0415 - start-up time of `record`: see _FROM_ROSTER

        return getattr(roster, _FROM_ROSTER[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    batch_size: int | None = None,
    progress: Any = None,
    options: RosterOptions | None = None,
    warn: Any = None,
    catch_up: bool = True,
) -> dict[str, Any]:
    """A roster CSV as batched `members-enrolled` facts, checked whole first (see `ledger.roster`);
    `catch_up=False` leaves its members to be projected while the next roster is checked."""
    from ledger import roster  # noqa: PLC0415 - start-up time of `record`: see _FROM_ROSTER

    return await roster.import_roster(
        store,
        insurer,
        file,
        known_on=known_on,
        batch_size=roster.BATCH if batch_size is None else batch_size,
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
    it, pipelined: the next files are checked while this one is appended (see `ledger.roster`)."""
    from ledger import roster  # noqa: PLC0415 - start-up time of `record`: see _FROM_ROSTER

    return await roster.import_rosters(store, rosters, known_on=known_on, progress=progress)
