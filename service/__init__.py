"""The use cases of exposure: one function each, the only thing the command line calls.

Every function takes an opened `Store` (from `opened` or `created`) and plain values as
typed on the command line. Two rules live here and nowhere else:

- **Reads catch up first.** Every read resolves its horizon with `horizon`, which brings
  the projections up to the ledger's head before it answers (`Store.horizon`).
- **The horizon is parsed once**, from the one pair of strings every question takes
  (`--as-known-on`, `--as-recorded-at`), named in errors as the user typed them.

Writes (`record`, `import_facts`, `import_roster`) validate against the projections
caught up inside `Store.append`, then append all or nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from domain import nir as nir_rules
from domain import obligations as deadline_rules
from domain.errors import InvalidTime
from ledger import copying, roster
from ledger.replicas import DEFAULT_MAX_LAG
from ledger.store import DEFAULT_STORE, AppendResult, Store, default_key_file
from projections import history, queries
from projections.queries import Horizon

MEMBER_CHANGES = history.MEMBER_CHANGES
"""The member counts a `diff` reports, in order."""
ROSTER_BATCH = roster.BATCH
"""Members per `members-enrolled` fact unless told otherwise."""


@dataclass(frozen=True, slots=True)
class When:
    """The horizon as typed: `--as-known-on X` (default now) and `--as-recorded-at Y`."""

    known_on: str | None = None
    recorded_at: str | None = None


@asynccontextmanager
async def opened(
    location: str, key_file: Path | None, *, read_location: str | None = None, max_lag: float = DEFAULT_MAX_LAG
) -> AsyncIterator[Store]:
    """The store at `location` with its key file (answering from the replica `read_location`
    if given, waiting at most `max_lag` seconds for it), closed afterwards."""
    store = await Store.open(location, key_file, read_location=read_location, max_lag=max_lag)
    try:
        yield store
    finally:
        await store.close()


async def init(location: str, key_file: Path | None, *, timezone: str, encrypt: bool) -> dict[str, Any]:
    """Create the store and its key file (idempotent): where they are, and whether they are new."""
    store, created = await Store.init(location, key_file, timezone=timezone, encrypt=encrypt)
    try:
        return {
            "store": store.location.display,
            "key_file": str(key_file or default_key_file(location)),
            "timezone": store.tz.key,
            "created": created,
        }
    finally:
        await store.close()


async def create(location: str, key_file: Path | None = None, *, timezone: str = "UTC") -> Store:
    """A new store, opened (the caller closes it)."""
    store, _ = await Store.init(location, key_file, timezone=timezone)
    return store


async def horizon(store: Store, when: When, *, known_name: str = "--as-known-on") -> Horizon:
    """The one way to a horizon: catch the projections up, then parse `when` once."""
    return await store.horizon(when.known_on, when.recorded_at, known_name=known_name)


# -- writes ------------------------------------------------------------------------------


async def record(store: Store, items: Sequence[tuple[str, object]], *, by: str | None = None) -> AppendResult:
    """Parse, validate and append labelled fact objects, all or nothing (`by`: the author, default the OS user)."""
    return await store.append(items, by=by)


async def import_roster(
    store: Store,
    insurer: str,
    file: str,
    *,
    known_on: str | None,
    batch_size: int = ROSTER_BATCH,
    progress: Any = None,
) -> dict[str, int]:
    """A roster CSV as batched `members-enrolled` facts (see `ledger.roster`)."""
    return await roster.import_roster(store, insurer, file, known_on=known_on, batch_size=batch_size, progress=progress)


async def copy_store(store: Store, target: str, key_file: Path | None) -> dict[str, Any]:
    """Every fact of `store`, in order, into a new store at `target` sharing its key file."""
    key = key_file or default_key_file(store.location.text)
    copy, count = await copying.copy_store(store, target, key)
    try:
        return {"from": store.location.display, "to": copy.location.display, "facts": count, "key_file": str(key)}
    finally:
        await copy.close()


# -- questions ---------------------------------------------------------------------------


async def incidents(store: Store, when: When = When()) -> list[str]:
    """The incidents known at the horizon."""
    return await queries.incidents(store.db, await horizon(store, when))


async def summary(store: Store, incident: str, when: When) -> dict[str, Any]:
    """SPEC §7 `summary`: insurers, member counts and field categories of an incident."""
    return await queries.summary(store.db, incident, await horizon(store, when))


async def insurer(store: Store, incident: str, insurer_id: str, when: When) -> dict[str, Any]:
    """One insurer in one incident: status, scope, fields, counts, notification dates."""
    return await queries.insurer(store.db, incident, insurer_id, await horizon(store, when))


async def member(
    store: Store, when: When, *, insurer_id: str | None = None, ref: str | None = None, nir: str | None = None
) -> dict[str, Any]:
    """Every membership of a member (by insurer and ref) or of a person (by NIR, pseudonymised here)."""
    h = await horizon(store, when)
    pseudonym = nir_rules.pseudonymise(nir, store.keys.nir_key) if nir is not None else None
    return await queries.member(store.db, h, insurer_id=insurer_id, ref=ref, nir_pseudonym=pseudonym)


async def members_export(
    store: Store, incident: str, when: When, insurer_id: str | None, fmt: str, sink: TextIO
) -> int:
    """Stream the affected members of an incident to `sink` as CSV or JSON Lines; the row count."""
    return await roster.export(store, incident, await horizon(store, when), insurer_id, fmt, sink)


async def between(store: Store, earlier: str, later: str | None, recorded_at: str | None) -> tuple[Horizon, Horizon]:
    """The two horizons a `diff` compares (`--from`, `--to`), the earlier first."""
    before = await horizon(store, When(earlier, recorded_at), known_name="--from")
    after = await horizon(store, When(later, recorded_at), known_name="--to")
    if before.as_known_on > after.as_known_on:
        raise InvalidTime("--from must not be later than --to")
    return before, after


async def diff(store: Store, incident: str, earlier: str, later: str | None, recorded_at: str | None) -> dict[str, Any]:
    """What changed in knowledge between two dates: insurers, fields, member counts."""
    before, after = await between(store, earlier, later, recorded_at)
    return await history.diff(store.db, incident, before, after)


async def changed_members(
    store: Store, incident: str, earlier: str, later: str | None, recorded_at: str | None
) -> AsyncGenerator[dict[str, Any], None]:
    """The members whose answer changed between two dates, as rows to stream; the question
    is checked first, so that an error comes before anything is written."""
    before, after = await between(store, earlier, later, recorded_at)
    await queries.require_incident(store.db, incident)
    return history.changed_members(store.db, incident, before, after)


async def timeline(store: Store, incident: str, when: When) -> list[dict[str, Any]]:
    """The knowledge history: one entry per knowledge time that changed an answer."""
    return await history.timeline(store.db, incident, await horizon(store, when))


async def obligations(store: Store, incident: str, when: When, rule_id: str) -> dict[str, Any]:
    """Per insurer: awareness, deadline under the versioned rule `rule_id`, notices, status."""
    return await history.obligations(store.db, incident, await horizon(store, when), deadline_rules.rule(rule_id))


async def veris(store: Store, incident: str, when: When, *, country: str, industry: str) -> Any:
    """What a VERIS 1.4 record of the incident is made from (see `domain.veris.record`)."""
    h = await horizon(store, when)
    return await history.veris_incident(store.db, incident, h, store.tz, country=country, industry=industry)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Every answer the HTML report shows, at one horizon."""

    horizon: Horizon
    summary: dict[str, Any]
    view: Any
    timeline: list[dict[str, Any]]
    obligations: dict[str, Any]
    facts: list[history.FactRow]


async def report(store: Store, incident: str, when: When, rule_id: str) -> ReportData:
    """The answers of `summary`, `timeline` and `obligations` and the facts behind them, at one horizon."""
    h = await horizon(store, when)
    db, rule = store.db, deadline_rules.rule(rule_id)
    return ReportData(
        horizon=h,
        summary=await queries.summary(db, incident, h),
        view=await queries.incident_view(db, incident, h),
        timeline=await history.timeline(db, incident, h),
        obligations=await history.obligations(db, incident, h, rule),
        facts=await history.relevant_facts(db, incident, h),
    )


__all__ = [
    "DEFAULT_MAX_LAG",
    "DEFAULT_STORE",
    "MEMBER_CHANGES",
    "ROSTER_BATCH",
    "AppendResult",
    "Horizon",
    "Store",
    "default_key_file",
]


# -- live projections ---------------------------------------------------------------------


async def catch_up(store: Store) -> int:
    """Bring the projections up to the ledger's head; the position reached."""
    return await store.catch_up()


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
