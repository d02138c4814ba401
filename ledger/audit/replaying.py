"""`audit replay`: every projection rebuilt from the facts alone in a fresh file and its
answers compared with the stored ones at every knowledge time and every append.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import AuditFailure, LedgerError
from domain.times import from_micros, iso_utc
from ledger import replay as replaying
from ledger.outcome import PROJECTIONS_CHECKED, record_outcome
from ledger.store import Store
from projections import projector, queries
from projections.db import Db

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    pass
from ledger.audit.comparing import check_same, check_same_members
from ledger.audit.verifying import verify

# -- replay -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replayed:
    """What a successful replay compared."""

    facts: int
    tables: list[replaying.TableDigest]
    answers: Answers | None = None


@dataclass(frozen=True)
class Answers:
    """What the one-by-one comparison of answers (`replay --answers`) compared."""

    knowledge_times: int
    recording_times: int
    incidents: int
    insurers: int
    members: int
    answers: int


async def replay(store: Store, *, answers: bool = False, progress: replaying.Progress | None = None) -> Replayed:
    """Rebuild every projection from the facts in a fresh SQLite file and compare it, table by table.

    The facts are verified first (a replay of facts that do not verify proves nothing).
    Every projection table, caches included, is compared in canonical order (`ledger.replay`);
    the first differing row is named. With `answers`, the answers of both sides are also
    compared one by one at every knowledge time and every append (slow: see `_compare`).
    The outcome is kept like a verification's (`last_verification`).
    """
    try:
        result = await _replay(store, answers=answers, progress=progress)
    except AuditFailure as problem:
        await record_outcome(store, PROJECTIONS_CHECKED, problem)
        raise
    await record_outcome(store, PROJECTIONS_CHECKED, None)
    return result


async def verify_projections(store: Store, progress: replaying.Progress | None = None) -> list[replaying.TableDigest]:
    """`verify --projections`: the table digests of `replay`, without the answers (the facts verified before)."""
    return (await replay(store, progress=progress)).tables


async def _replay(store: Store, *, answers: bool, progress: replaying.Progress | None) -> Replayed:
    verified = await verify(store)
    await store.catch_up()
    with tempfile.TemporaryDirectory(prefix="exposure-replay-") as folder:
        scratch = await store.scratch_db(Path(folder) / "replay.db")
        fresh = await replaying.fresh_projections(scratch, store.ledger, progress)
        try:
            stored_at = await projector.position(store.db)
            fresh_at = await projector.position(fresh)
            if stored_at[1] != verified.head.size or fresh_at[1] != verified.head.size:
                raise AuditFailure("the ledger grew during the replay; run the replay again")
            compared = await _compare(store.db, fresh) if answers else None  # first: it names the answer
            await replaying.fill_caches(store.db, fresh)
            tables = await replaying.compare(store.db, fresh, progress)
        finally:
            await fresh.close()
    return Replayed(verified.head.size, tables, compared)


async def _compare(stored: Db, fresh: Db) -> Answers:
    """Compare the answers of both sides at every knowledge time and every append (`replay --answers`).

    Horizons: "as known on X" at every distinct `known_on` in the log (as recorded
    now), and "as known on Y, as recorded at Y" at every append's `recorded_at`
    (what the ledger could answer then). At each: `summary` of every incident,
    `insurer` of every (incident, insurer), and the status, attributes, fields and
    deciding facts of every enrolled member in every incident. Deterministic: every
    horizon is an explicit instant, never the wall clock.
    """
    async with fresh.execute("SELECT known_us, recorded_us FROM facts ORDER BY pos") as cursor:
        times = [(int(k), int(r)) for k, r in await cursor.fetchall()]
    known = sorted({k for k, _ in times})
    recorded = [r for _, r in times]
    incidents = await queries.incidents(fresh)
    marks = ", ".join(f"'{k}'" for k in queries.NAMING_KINDS)
    async with fresh.execute(
        f"SELECT DISTINCT insurer FROM facts WHERE kind IN ({marks}) AND insurer IS NOT NULL ORDER BY insurer"
    ) as cursor:
        insurers = [str(r[0]) for r in await cursor.fetchall()]
    async with fresh.execute("SELECT COUNT(DISTINCT insurer || char(0) || ref) FROM member_versions") as cursor:
        row = await cursor.fetchone()
    members = int(row[0]) if row else 0
    horizons = [(from_micros(k), None) for k in known] + [(from_micros(r), from_micros(r)) for r in recorded]
    answers = 0
    for as_known_on, as_recorded_at in horizons:
        label = f"as known on {iso_utc(as_known_on)}" + (
            f", as recorded at {iso_utc(as_recorded_at)}" if as_recorded_at else ""
        )
        h_stored = await queries.horizon(stored, as_known_on, as_recorded_at)
        h_fresh = await queries.horizon(fresh, as_known_on, as_recorded_at)
        check_same(
            f"the facts visible {label}", (h_stored.position, h_stored.hidden), (h_fresh.position, h_fresh.hidden)
        )
        for incident in incidents:
            check_same(
                f"summary of {incident} {label}",
                await _answer(queries.summary(stored, incident, h_stored)),
                await _answer(queries.summary(fresh, incident, h_fresh)),
            )
            answers += 1
            for insurer in insurers:
                check_same(
                    f"insurer {insurer} in {incident} {label}",
                    await _answer(queries.insurer(stored, incident, insurer, h_stored)),
                    await _answer(queries.insurer(fresh, incident, insurer, h_fresh)),
                )
                answers += 1
            answers += await check_same_members(stored, fresh, incident, h_stored, h_fresh, label)
    return Answers(len(known), len(recorded), len(incidents), len(insurers), members, answers)


async def _answer(pending: Any) -> Any:
    """A query's answer, or the rejection it gives (both must agree)."""
    try:
        return await pending
    except LedgerError as problem:
        return {"rejected": str(problem)}
