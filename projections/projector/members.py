"""The `members` projection: roster rows, NIR rows and tallies, in bulk transactions, and
both projections caught up (`catch_up`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, cast

from domain import facts as fact_codec
from domain.facts import (
    MembersEnrolled,
    ScopeDefined,
)
from domain.times import to_micros
from projections.db import POSTGRES, Db

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    pass
from projections.projector import copying
from projections.projector.facts import catch_up_facts
from projections.projector.rows import Roster, Row, roster_decoder
from projections.projector.scopes import Matcher, Scopes, holders_of_nirs, regroup_nirs, tally_scope
from projections.projector.state import (
    ENROLLED_TOPIC,
    MEMBERS,
    PAGE,
    SCOPE_TOPIC,
    Ledger,
    Progress,
    abandon,
    position,
    save_position,
)

MEMBER_ROWS_PER_TRANSACTION: Final = 250_000
NIR_MERGE_ROWS: Final = 1_000_000
NIR_MERGE_RATIO: Final = 4
"""`nir_recent` is merged into `nir_members` once it holds NIR_MERGE_ROWS rows and a quarter of
`nir_members`: it stays small enough for the page cache (about 60 bytes a row), and a NIR is
moved O(log n) times in all."""


async def catch_up(db: Db, ledger: Ledger, progress: Progress | None = None) -> int:
    """Bring both projections up to the head; return the ledger position."""
    current = await catch_up_facts(db, ledger)
    await catch_up_members(db, ledger, progress)
    return current


async def catch_up_members(db: Db, ledger: Ledger, progress: Progress | None = None, *, head: int | None = None) -> int:
    """Project the rosters (and scopes, for the tallies) appended since the `members` position,
    up to the ledger's last notification (or `head`).

    NIR pseudonyms go into the small `nir_recent` table, merged into `nir_members` in
    key order once it outgrows `NIR_MERGE_ROWS` and a quarter of `nir_members` (see
    projections/schema.py): random keys only ever land in a table that fits in the cache.
    """
    notification_id, _ = await position(db, MEMBERS)
    head = ledger.last_notification() if head is None else head
    if head <= notification_id:
        return notification_id
    while True:
        await db.begin(MEMBERS)
        await db.index_paths_only()
        try:
            notification_id, current = await position(db, MEMBERS)
            scopes = Scopes(db)
            rows = 0
            while rows < MEMBER_ROWS_PER_TRANSACTION:
                notes = ledger.notifications(
                    start=notification_id + 1, limit=PAGE, stop=head, topics=[ENROLLED_TOPIC, SCOPE_TOPIC]
                )
                if not notes:
                    break
                for note in notes:
                    if note.topic == SCOPE_TOPIC:
                        scope = cast(ScopeDefined, ledger.decode(note.state))  # its topic says so
                        await tally_scope(db, note.originator_version, scope)
                        scopes.forget()
                        rows += 1
                    else:
                        roster = _roster_of(ledger, note.state)
                        rows += await project_members(db, note.originator_version, roster, scopes)
                    notification_id, current = note.id, note.originator_version
            if rows == 0:
                if notification_id < head:  # another process may have gone past `head`: never move back
                    await save_position(db, MEMBERS, head, current)
                await db.commit()
                break
            await _merge_nirs_when_due(db)
            await save_position(db, MEMBERS, notification_id, current)
            await db.commit()
        except BaseException as problem:
            await abandon(db, MEMBERS, notification_id, problem)
            raise
        if progress is not None:
            progress(notification_id, head)
    return head


async def _nir_rows(db: Db) -> tuple[int, int]:
    async with db.execute("SELECT name, rows FROM nir_levels") as cursor:
        found = {str(name): int(n) for name, n in await cursor.fetchall()}
    return found.get("recent", 0), found.get("members", 0)


async def _merge_nirs_when_due(db: Db) -> None:
    """Move `nir_recent` into `nir_members` (one ordered pass) once it is large enough."""
    recent, merged = await _nir_rows(db)
    if recent < max(NIR_MERGE_ROWS, merged // NIR_MERGE_RATIO):
        return
    await db.execute(
        "INSERT INTO nir_members (nir, insurer, ref, pos)"
        " SELECT nir, insurer, ref, pos FROM nir_recent ORDER BY nir, insurer, ref, pos"
    )
    await db.execute("DELETE FROM nir_recent")
    await db.executemany(
        "INSERT INTO nir_levels (name, rows) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET rows = excluded.rows",
        [("recent", 0), ("members", merged + recent)],
    )


def _roster_of(ledger: Ledger, state: bytes) -> Roster:
    """Decode a stored `members-enrolled` fact straight into rows."""
    return roster_decoder.decode(ledger.plain(state))


async def _tally(db: Db, rows: Sequence[tuple[str, str, int, int, int]]) -> None:
    """Add (insurer, scope, pos, known_us, members) to the tallies."""
    await db.executemany(
        "INSERT INTO member_tallies (insurer, scope, pos, known_us, members) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (insurer, scope, pos) DO UPDATE SET members = member_tallies.members + excluded.members",
        rows,
    )


async def project_members(db: Db, pos: int, fact: Roster | MembersEnrolled, scopes: Scopes | None = None) -> int:
    """Roster rows of one `members-enrolled` fact and their tallies; refs seen before are
    marked `multi` (their earlier single-version rows leave their rosters' tallies).
    `scopes`: the tallied scopes as the caller knows them (read here if not given)."""
    if isinstance(fact, MembersEnrolled):
        fact = roster_decoder.decode(fact_codec.encode(fact))
    known_us = to_micros(fact.known_on)
    insurer = fact.insurer
    members = fact.members
    as_text = db.dialect == POSTGRES and copying.plain(insurer, members)
    if as_text:
        text = copying.member_text(insurer, pos, known_us, members)
        await db.copy_text("member_versions", copying.MEMBER_COLUMNS, text)
    else:
        await db.insert_rows(
            "member_versions",
            copying.MEMBER_COLUMNS,
            [(insurer, m.ref, pos, known_us, m.role, m.contract, m.from_, m.until, m.nir) for m in members],
        )
    refs = [m.ref for m in members]
    first, last = min(refs), max(refs)
    async with db.execute(
        "SELECT 1 FROM member_versions WHERE insurer = ? AND ref BETWEEN ? AND ? AND pos < ? LIMIT 1",
        (fact.insurer, first, last, pos),
    ) as cursor:
        overlaps = await cursor.fetchone() is not None
    scopes = scopes or Scopes(db)
    matchers = await scopes.of(insurer)
    again: set[str] = set()
    regroup: set[str] = set()
    if overlaps:
        again, regroup = await _mark_multi(db, pos, fact, matchers)
    single = [m for m in members if m.ref not in again] if again else members
    tallies = [(insurer, "", pos, known_us, len(single))]
    tests = [(s.id, s.predicate()) for s in matchers]
    tallies += [(insurer, scope_id, pos, known_us, sum(1 for m in single if test(m))) for scope_id, test in tests]
    await _tally(db, tallies)
    regroup.update(await _project_nirs(db, insurer, pos, members, as_text=as_text))
    await regroup_nirs(db, regroup, scopes)
    return len(members)


async def _project_nirs(db: Db, insurer: str, pos: int, members: Sequence[Row], *, as_text: bool = False) -> list[str]:
    """Index the roster's NIR pseudonyms (in `nir_recent`) and list in `shared_members` every
    member row whose NIR occurs in more than one row. Returns those NIRs."""
    rows = [(m.nir, insurer, m.ref, pos) for m in members if m.nir]
    if not rows:
        return []
    if db.dialect == POSTGRES:
        shared = await _shared_before(db, [row[0] for row in rows])
    if as_text:
        await db.copy_text("nir_recent", copying.NIR_COLUMNS, copying.nir_text(insurer, pos, members))
    else:
        await db.insert_rows("nir_recent", copying.NIR_COLUMNS, rows)
    await db.execute(
        "INSERT INTO nir_levels (name, rows) VALUES ('recent', ?)"
        " ON CONFLICT (name) DO UPDATE SET rows = nir_levels.rows + excluded.rows",
        (len(rows),),
    )
    if db.dialect != POSTGRES:
        async with db.execute(
            "SELECT j.value FROM json_each(:nirs) j"
            " WHERE (SELECT COUNT(*) FROM nir_recent r WHERE r.nir = j.value)"
            " + (SELECT COUNT(*) FROM nir_members n WHERE n.nir = j.value) > 1",
            {"nirs": json.dumps([row[0] for row in rows])},
        ) as cursor:
            shared = [str(r[0]) for r in await cursor.fetchall()]
    if shared:
        for table in ("nir_recent", "nir_members"):
            await db.execute(
                f"INSERT OR IGNORE INTO shared_members (insurer, ref) SELECT t.insurer, t.ref"
                f" FROM {holders_of_nirs(db, table)}",
                {"nirs": json.dumps(shared)},
            )
    return shared


async def _shared_before(db: Db, nirs: Sequence[str]) -> list[str]:
    """The NIRs of a roster about to be indexed that will then occur in more than one row:
    those already indexed (one probe that stops at the first row found, in either table) and
    those the roster holds twice. PostgreSQL's path: the count after the COPY read every
    row of every NIR in both tables (4.3 of the server's 16 CPU-seconds at 1 M); this probe
    costs about half of it (measured: 2.3 against 4-6 µs a NIR)."""
    seen = Counter(nirs)
    async with db.execute(
        "SELECT j.value FROM json_each(:nirs) j"
        " WHERE EXISTS (SELECT 1 FROM nir_recent r WHERE r.nir = j.value)"
        " OR EXISTS (SELECT 1 FROM nir_members n WHERE n.nir = j.value)",
        {"nirs": json.dumps(list(seen))},
    ) as cursor:
        found = {str(r[0]) for r in await cursor.fetchall()}
    return sorted(found.union(nir for nir, n in seen.items() if n > 1))


async def _mark_multi(db: Db, pos: int, fact: Roster, matchers: Sequence[Matcher]) -> tuple[set[str], set[str]]:
    """Mark refs enrolled more than once (only they need the later-version subquery) and
    take their earlier single-version rows out of their rosters' tallies. Returns those refs
    and the NIRs of their earlier rows (those NIR groups change shape)."""
    params = {"insurer": fact.insurer, "refs": json.dumps([m.ref for m in fact.members]), "pos": pos}
    async with db.execute(
        "SELECT v.ref, v.pos, v.known_us, v.multi, v.role, v.contract, v.from_day, v.until_day, v.nir"
        " FROM json_each(:refs) j JOIN member_versions v ON v.insurer = :insurer AND v.ref = j.value"
        " WHERE v.pos < :pos",
        params,
    ) as cursor:
        earlier = await cursor.fetchall()
    if not earlier:
        return set(), set()
    taken: Counter[tuple[str, int, int]] = Counter()
    tests = [(s.id, s.predicate()) for s in matchers]
    for ref, row_pos, row_known, multi, role, contract, start, end, _ in earlier:
        if multi:
            continue
        taken["", row_pos, row_known] += 1
        row = Row(ref=ref, role=role, contract=contract, from_=start, until=end)
        for scope_id, test in tests:
            if test(row):
                taken[scope_id, row_pos, row_known] += 1
    await _tally(db, [(fact.insurer, scope, p, k, -n) for (scope, p, k), n in taken.items()])
    await db.executemany(
        "INSERT OR IGNORE INTO multi_members (insurer, ref) VALUES (?, ?)",
        [(fact.insurer, ref) for ref in sorted({str(r[0]) for r in earlier})],
    )
    await db.execute(
        "UPDATE member_versions SET multi = 1 WHERE insurer = :insurer AND multi = 0 AND ref IN ("
        " SELECT j.value FROM json_each(:refs) j WHERE EXISTS (SELECT 1 FROM member_versions v"
        " WHERE v.insurer = :insurer AND v.ref = j.value AND v.pos < :pos))",
        params,
    )
    return {str(r[0]) for r in earlier}, {str(r[8]) for r in earlier if r[8] is not None}
