"""Catch-up projectors: read the ledger's notification log after their tracked
position and write view rows and the new position in one transaction.

Two projections, each with its own position in `projection_state`:
- `facts`: one row per fact, retractions, member findings and notices (light);
- `members`: the roster rows of `members-enrolled` facts (heavy: millions).
Validation needs only `facts` (and `members` when a fact names member refs), so a
roster import appends its batches without waiting for the heavy projection, which
then catches up in bulk.

Exactly once: a crash before COMMIT leaves neither rows nor position, a crash
after leaves both; the next catch-up resumes after the last committed position.
Two processes catching up at once serialise on `db.begin` (SQLite: `BEGIN
IMMEDIATE`; PostgreSQL: an advisory lock per projection) and each re-reads its
position inside the transaction.

eventsourcing's SQLite recorder cannot `subscribe()`, so projectors poll
`select_notifications` (queries call `catch_up` before answering).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import msgspec

from domain import facts as fact_codec
from domain import scope
from domain.errors import StoreError
from domain.facts import (
    TOPIC_PREFIX,
    AnyFact,
    Fact,
    FactRetracted,
    MembersConfirmedAffected,
    MembersEnrolled,
    MembersNotified,
    MembersRuledOut,
    ScopeDefined,
    incident_of,
    insurer_of,
    kind_of,
)
from domain.times import to_micros
from projections.db import Db
from projections.schema import DDL, PROJECTION_TABLES, SCHEMA_VERSION
from projections.scoping import scope_sql

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    from eventsourcing.persistence import Notification

FACTS: Final = "facts"
MEMBERS: Final = "members"
PAGE: Final = 64
MEMBER_ROWS_PER_TRANSACTION: Final = 250_000
NIR_MERGE_ROWS: Final = 1_000_000
NIR_MERGE_RATIO: Final = 4
"""`nir_recent` is merged into `nir_members` once it holds NIR_MERGE_ROWS rows and a quarter of
`nir_members`: it stays small enough for the page cache (about 60 bytes a row), and a NIR is
moved O(log n) times in all."""
ENROLLED_TOPIC: Final = TOPIC_PREFIX + "members-enrolled"
SCOPE_TOPIC: Final = TOPIC_PREFIX + "scope-defined"

Progress = Callable[[int, int], None]


class Ledger(Protocol):
    """What the projector reads of the write side: its notifications and their plain bytes."""

    def notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]: ...

    def last_notification(self) -> int: ...

    def plain(self, state: bytes) -> bytes: ...

    def decode(self, state: bytes) -> AnyFact: ...


async def create_tables(db: Db) -> None:
    """Create the view tables if absent; projections of another schema version are
    dropped first (they are rebuilt from the facts by the next catch-up)."""
    await db.ensure_schema(DDL)
    async with db.execute("SELECT 1 FROM projection_state WHERE schema_version <> ? LIMIT 1", (SCHEMA_VERSION,)) as c:
        outdated = await c.fetchone() is not None
    await db.commit()
    if outdated:
        await drop_tables(db)
        await db.ensure_schema(DDL)


async def drop_tables(db: Db) -> None:
    """Drop every view table (the facts are untouched)."""
    for table in PROJECTION_TABLES:
        await db.execute(f"DROP TABLE IF EXISTS {table}")
    await db.commit()


async def position(db: Db, name: str = FACTS) -> tuple[int, int]:
    """(notification id, ledger position) the named projection has processed."""
    async with db.execute("SELECT notification_id, position FROM projection_state WHERE name = ?", (name,)) as cursor:
        row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def _save_position(db: Db, name: str, notification_id: int, pos: int) -> None:
    await db.execute(
        "INSERT INTO projection_state (name, notification_id, position, schema_version)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " notification_id = excluded.notification_id, position = excluded.position",
        (name, notification_id, pos, SCHEMA_VERSION),
    )


async def catch_up(db: Db, ledger: Ledger, progress: Progress | None = None) -> int:
    """Bring both projections up to the head; return the ledger position."""
    current = await catch_up_facts(db, ledger)
    await catch_up_members(db, ledger, progress)
    return current


REBUILD_HINT: Final = "rebuild them from the facts with: exposure store rebuild"


class ProjectionDamaged(StoreError):
    """A projection's position or rows disagree with the facts: only a rebuild helps."""


async def check_positions(db: Db, ledger: Ledger) -> None:
    """Refuse positions no catch-up comes back from: past the last fact (new facts would never
    be projected), or a `facts` position that is not the version of the fact it names (facts
    would be projected twice, or skipped)."""
    positions = {name: await position(db, name) for name in (FACTS, MEMBERS)}
    head = ledger.last_notification()  # read after the positions: a concurrent append only raises it
    for name, (notification_id, pos) in positions.items():
        if not (0 <= notification_id <= head and 0 <= pos <= head):
            raise ProjectionDamaged(
                f"the {name} projection is at position {pos} (notification {notification_id})"
                f" but the ledger holds {head} facts: {REBUILD_HINT}"
            )
    notification_id, pos = positions[FACTS]
    if notification_id:
        notes = ledger.notifications(start=notification_id, limit=1)
        if not notes or notes[0].id != notification_id or notes[0].originator_version != pos:
            raise ProjectionDamaged(
                f"the facts projection is at position {pos} but notification {notification_id}"
                f" holds another fact: {REBUILD_HINT}"
            )


def _damaged(problem: BaseException, name: str, where: int) -> ProjectionDamaged | None:
    """A projection row that already exists (or breaks a constraint) where a fact goes."""
    errors = sys.modules.get("psycopg.errors")
    if isinstance(problem, sqlite3.IntegrityError) or (
        errors is not None and isinstance(problem, errors.IntegrityError)
    ):
        return ProjectionDamaged(
            f"the {name} projection disagrees with the facts after position {where}"
            f" ({str(problem).splitlines()[0]}): {REBUILD_HINT}"
        )
    return None


async def catch_up_facts(db: Db, ledger: Ledger, progress: Progress | None = None) -> int:
    """Project every fact appended since the `facts` position; return the new position."""
    await check_positions(db, ledger)
    head = ledger.last_notification() if progress is not None else 0
    while True:
        await db.begin(FACTS)
        await db.index_paths_only()
        current = 0
        try:
            notification_id, current = await position(db, FACTS)
            notes = ledger.notifications(start=notification_id + 1, limit=PAGE)
            if not notes:
                await db.rollback()
                return current
            for note in notes:
                if note.topic == ENROLLED_TOPIC:  # its members go to the `members` projection
                    fact: Fact = _roster_head_of(ledger, note.state)
                else:
                    fact = ledger.decode(note.state)
                await process_event(db, note.originator_version, fact)
                notification_id, current = note.id, note.originator_version
            await _save_position(db, FACTS, notification_id, current)
            await db.commit()
        except BaseException as problem:
            await db.rollback()
            damaged = _damaged(problem, FACTS, current)
            if damaged is not None:
                raise damaged from None
            raise
        if progress is not None:
            progress(notification_id, max(head, notification_id))


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
                        rows += 1
                    else:
                        rows += await project_members(db, note.originator_version, _roster_of(ledger, note.state))
                    notification_id, current = note.id, note.originator_version
            if rows == 0:
                if notification_id < head:  # another process may have gone past `head`: never move back
                    await _save_position(db, MEMBERS, head, current)
                await db.commit()
                break
            await _merge_nirs_when_due(db)
            await _save_position(db, MEMBERS, notification_id, current)
            await db.commit()
        except BaseException as problem:
            await db.rollback()
            damaged = _damaged(problem, MEMBERS, notification_id)
            if damaged is not None:
                raise damaged from None
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
    await db.execute("INSERT INTO nir_members (nir, insurer, ref, pos) SELECT nir, insurer, ref, pos FROM nir_recent")
    await db.execute("DELETE FROM nir_recent")
    await db.executemany(
        "INSERT INTO nir_levels (name, rows) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET rows = excluded.rows",
        [("recent", 0), ("members", merged + recent)],
    )


class _Row(msgspec.Struct, frozen=True):
    """A roster row as stored (dates kept as their ISO text: the view stores that text)."""

    ref: str
    role: str | None = None
    contract: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    until: str | None = None
    nir: str | None = None


class Roster(msgspec.Struct, frozen=True):
    """What the members projection reads of a `members-enrolled` fact (other keys ignored)."""

    id: str
    insurer: str
    known_on: datetime
    members: list[_Row]


_roster_decoder = msgspec.json.Decoder(Roster)


def _roster_of(ledger: Ledger, state: bytes) -> Roster:
    """Decode a stored `members-enrolled` fact straight into rows."""
    return _roster_decoder.decode(ledger.plain(state))


class _RosterHead(MembersEnrolled, frozen=True, tag="members-enrolled"):
    """A `members-enrolled` fact whose member list is left undecoded (the `facts`
    projection stores rosters without their members)."""

    members: msgspec.Raw  # type: ignore[assignment]


_roster_head_decoder = msgspec.json.Decoder(_RosterHead)


def _roster_head_of(ledger: Ledger, state: bytes) -> MembersEnrolled:
    """The roster fact without its members, without decoding them (thousands per fact)."""
    head = _roster_head_decoder.decode(ledger.plain(state))
    return msgspec.structs.replace(head, members=())


class _Matcher(msgspec.Struct, frozen=True):
    """A scope as the tallies test it (dates as ISO text, compared as the SQL compares them)."""

    id: str
    contracts: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    start: str | None
    end: str | None

    def given(self) -> dict[str, object]:
        """The scope's fields as `domain.scope.RULE` names them."""
        return {
            "contracts": self.contracts,
            "roles": self.roles,
            "enrolled_from": self.start,
            "enrolled_until": self.end,
        }

    def predicate(self) -> Callable[[_Row], bool]:
        """The scope rule over roster rows (`domain.scope.predicate`)."""
        test = scope.predicate(self.given())
        return lambda row: test((row.contract, row.role, row.from_, row.until))


def _matcher(fact: ScopeDefined) -> _Matcher:
    return _Matcher(
        fact.id,
        fact.contracts,
        fact.roles,
        fact.enrolled_from.isoformat() if fact.enrolled_from else None,
        fact.enrolled_until.isoformat() if fact.enrolled_until else None,
    )


_matcher_decoder = msgspec.msgpack.Decoder(_Matcher)


def _match_sql(matcher: _Matcher) -> tuple[str, dict[str, str]]:
    """The scope rule as SQL over `member_versions` columns (`scoping.scope_sql`), with its parameters."""
    params = {
        field: json.dumps(value) if isinstance(value, tuple) else str(value)
        for field, value in matcher.given().items()
        if value is not None
    }
    return scope_sql({field: f":{field}" for field in params}), params


async def _tally(db: Db, rows: Sequence[tuple[str, str, int, int, int]]) -> None:
    """Add (insurer, scope, pos, known_us, members) to the tallies."""
    await db.executemany(
        "INSERT INTO member_tallies (insurer, scope, pos, known_us, members) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (insurer, scope, pos) DO UPDATE SET members = member_tallies.members + excluded.members",
        rows,
    )


async def _matchers(db: Db, insurer: str) -> list[_Matcher]:
    """The tallied scopes of `insurer`, read back from their facts."""
    async with db.execute("SELECT matcher FROM tallied_scopes WHERE insurer = ? ORDER BY pos", (insurer,)) as cursor:
        return [_matcher_decoder.decode(bytes(r[0])) for r in await cursor.fetchall()]


async def tally_scope(db: Db, pos: int, fact: ScopeDefined) -> None:
    """Tallies of a new scope over the insurer's single-version members projected so far
    (later rosters add theirs as they are projected)."""
    matcher = _matcher(fact)
    await db.execute(
        "INSERT INTO tallied_scopes (scope, insurer, pos, matcher) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING",
        (fact.id, fact.insurer, pos, msgspec.msgpack.encode(matcher)),
    )
    matches, params = _match_sql(matcher)
    await db.execute(
        "INSERT INTO member_tallies (insurer, scope, pos, known_us, members)"
        " SELECT insurer, :scope, pos, known_us, COUNT(*) FROM member_versions"
        f" WHERE insurer = :insurer AND multi = 0 AND {matches} GROUP BY insurer, pos, known_us"
        " ON CONFLICT (insurer, scope, pos) DO UPDATE SET members = member_tallies.members + excluded.members",
        {"scope": fact.id, "insurer": fact.insurer, **params},
    )
    async with db.execute(  # the NIR groups holding this insurer's members gain the scope in their shape
        "SELECT DISTINCT v.nir FROM shared_members s JOIN member_versions v ON v.insurer = s.insurer AND v.ref = s.ref"
        " WHERE s.insurer = ? AND v.nir IS NOT NULL",
        (fact.insurer,),
    ) as cursor:
        nirs = [str(r[0]) for r in await cursor.fetchall()]
    await _regroup(db, nirs)


async def project_members(db: Db, pos: int, fact: Roster | MembersEnrolled) -> int:
    """Roster rows of one `members-enrolled` fact and their tallies; refs seen before are
    marked `multi` (their earlier single-version rows leave their rosters' tallies)."""
    if isinstance(fact, MembersEnrolled):
        fact = _roster_decoder.decode(fact_codec.encode(fact))
    known_us = to_micros(fact.known_on)
    insurer = fact.insurer
    members = fact.members
    await db.insert_rows(
        "member_versions",
        ("insurer", "ref", "pos", "known_us", "role", "contract", "from_day", "until_day", "nir"),
        [(insurer, m.ref, pos, known_us, m.role, m.contract, m.from_, m.until, m.nir) for m in members],
    )
    refs = [m.ref for m in members]
    first, last = min(refs), max(refs)
    async with db.execute(
        "SELECT 1 FROM member_versions WHERE insurer = ? AND ref BETWEEN ? AND ? AND pos < ? LIMIT 1",
        (fact.insurer, first, last, pos),
    ) as cursor:
        overlaps = await cursor.fetchone() is not None
    matchers = await _matchers(db, insurer)
    again: set[str] = set()
    regroup: set[str] = set()
    if overlaps:
        again, regroup = await _mark_multi(db, pos, fact, matchers)
    single = [m for m in members if m.ref not in again] if again else members
    tallies = [(insurer, "", pos, known_us, len(single))]
    tests = [(s.id, s.predicate()) for s in matchers]
    tallies += [(insurer, scope_id, pos, known_us, sum(1 for m in single if test(m))) for scope_id, test in tests]
    await _tally(db, tallies)
    regroup.update(await _project_nirs(db, insurer, pos, members))
    await _regroup(db, regroup)
    return len(members)


async def _project_nirs(db: Db, insurer: str, pos: int, members: Sequence[_Row]) -> list[str]:
    """Index the roster's NIR pseudonyms (in `nir_recent`) and list in `shared_members` every
    member row whose NIR occurs in more than one row. Returns those NIRs."""
    rows = [(m.nir, insurer, m.ref, pos) for m in members if m.nir]
    if not rows:
        return []
    await db.insert_rows("nir_recent", ("nir", "insurer", "ref", "pos"), rows)
    await db.execute(
        "INSERT INTO nir_levels (name, rows) VALUES ('recent', ?)"
        " ON CONFLICT (name) DO UPDATE SET rows = nir_levels.rows + excluded.rows",
        (len(rows),),
    )
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
                f" FROM json_each(:nirs) j JOIN {table} t ON t.nir = j.value",
                {"nirs": json.dumps(shared)},
            )
    return shared


REGROUP_CHUNK: Final = 10_000


async def _regroup(db: Db, nirs: Iterable[str]) -> None:
    """Give each NIR group in `nirs` its current shape (`nir_groups`) and move its count
    in `people_tallies` from the old shape to the new (see projections/schema.py).

    A shape lists, for each member row holding the NIR, its insurer and the tallied scopes
    it matches; a group holding a member enrolled more than once has the shape ''.
    """
    wanted = sorted(set(nirs))
    matchers: dict[str, list[_Matcher]] = {}
    moved: Counter[str] = Counter()
    for start in range(0, len(wanted), REGROUP_CHUNK):
        chunk = {"nirs": json.dumps(wanted[start : start + REGROUP_CHUNK])}
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for table in ("nir_recent", "nir_members"):
            async with db.execute(
                "SELECT t.nir, t.insurer, v.multi, v.role, v.contract, v.from_day, v.until_day"
                f" FROM json_each(:nirs) j JOIN {table} t ON t.nir = j.value"
                " JOIN member_versions v ON v.insurer = t.insurer AND v.ref = t.ref AND v.pos = t.pos",
                chunk,
            ) as cursor:
                for nir, *row in await cursor.fetchall():
                    groups.setdefault(str(nir), []).append(tuple(row))
        async with db.execute(
            "SELECT nir, shape FROM nir_groups WHERE nir IN (SELECT value FROM json_each(:nirs))", chunk
        ) as cursor:
            before = {str(nir): str(shape) for nir, shape in await cursor.fetchall()}
        after: dict[str, str] = {}
        for nir, rows in groups.items():
            if len(rows) < 2:
                continue
            for insurer in {str(r[0]) for r in rows} - matchers.keys():
                matchers[insurer] = await _matchers(db, insurer)
            after[nir] = _shape(rows, matchers)
        changed = [(nir, shape) for nir, shape in after.items() if before.get(nir) != shape]
        for nir, shape in changed:
            if before.get(nir):
                moved[before[nir]] -= 1
            if shape:
                moved[shape] += 1
        await db.executemany(
            "INSERT INTO nir_groups (nir, shape) VALUES (?, ?) ON CONFLICT (nir) DO UPDATE SET shape = excluded.shape",
            changed,
        )
    await db.executemany(
        "INSERT INTO people_tallies (shape, groups) VALUES (?, ?)"
        " ON CONFLICT (shape) DO UPDATE SET groups = people_tallies.groups + excluded.groups",
        [(shape, n) for shape, n in sorted(moved.items()) if n],
    )


def _shape(rows: Sequence[tuple[Any, ...]], matchers: dict[str, list[_Matcher]]) -> str:
    """The shape of a NIR group from its rows (insurer, multi, role, contract, from, until)."""
    if any(multi for _, multi, *_ in rows):
        return ""
    members = sorted(
        [insurer, [s.id for s in matchers[insurer] if s.predicate()(_Row("", role, contract, start, end))]]
        for insurer, _, role, contract, start, end in rows
    )
    return json.dumps(members, separators=(",", ":"))


async def _mark_multi(db: Db, pos: int, fact: Roster, matchers: Sequence[_Matcher]) -> tuple[set[str], set[str]]:
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
        row = _Row(ref=ref, role=role, contract=contract, from_=start, until=end)
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


async def process_event(db: Db, pos: int, fact: Fact) -> None:
    """Write the rows one fact makes true in the `facts` projection."""
    known_us = to_micros(fact.known_on)
    recorded = fact.recorded_at if fact.recorded_at is not None else fact.known_on
    target = fact.fact if isinstance(fact, FactRetracted) else None
    await db.execute(
        "INSERT INTO facts (pos, id, kind, known_us, occurred_us, recorded_us, incident, insurer, target, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            pos,
            fact.id,
            kind_of(fact),
            known_us,
            to_micros(fact.occurred_on),
            to_micros(recorded),
            incident_of(fact),
            insurer_of(fact),
            target,
            fact_codec.encode(_light(fact)),
        ),
    )
    match fact:
        case FactRetracted():
            await db.execute(
                "INSERT INTO retractions (target_pos, pos, known_us) SELECT pos, ?, ? FROM facts WHERE id = ?",
                (pos, known_us, fact.fact),
            )
        case MembersConfirmedAffected() | MembersRuledOut():
            status = "confirmed" if isinstance(fact, MembersConfirmedAffected) else "ruled-out"
            await db.executemany(
                "INSERT INTO member_findings (incident, insurer, ref, pos, known_us, status) VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, status) for ref in fact.refs],
            )
            await db.execute(
                "UPDATE member_findings SET multi = 1 WHERE incident = :incident AND insurer = :insurer"
                " AND multi = 0 AND ref IN (SELECT j.value FROM json_each(:refs) j WHERE EXISTS ("
                " SELECT 1 FROM member_findings f WHERE f.incident = :incident AND f.insurer = :insurer"
                " AND f.ref = j.value AND f.pos < :pos))",
                {"incident": fact.incident, "insurer": fact.insurer, "refs": json.dumps(list(fact.refs)), "pos": pos},
            )
        case MembersNotified(refs=refs) if refs:
            occurred_us = to_micros(fact.occurred_on)
            await db.executemany(
                "INSERT INTO member_notices (incident, insurer, ref, pos, known_us, occurred_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, occurred_us) for ref in refs],
            )
        case _:
            pass


def _light(fact: Fact) -> Fact:
    """The fact without its member lists (they live in member tables), for `facts.body`."""
    changes: dict[str, Any] = {}
    if isinstance(fact, MembersEnrolled):
        changes["members"] = ()
    elif isinstance(fact, MembersConfirmedAffected | MembersRuledOut | MembersNotified) and fact.refs:
        changes["refs"] = ()
    return msgspec.structs.replace(fact, **changes) if changes else fact
