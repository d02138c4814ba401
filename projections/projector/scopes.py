"""Scope matchers and the NIR groups' shapes: a `scope-defined` fact tallied over the
roster rows it matches, and NIRs regrouped when their rows change.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

from domain import scope
from domain.facts import (
    ScopeDefined,
)
from projections.db import POSTGRES, Db
from projections.scoping import scope_sql

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    pass
from projections.projector.rows import Row


class Matcher(msgspec.Struct, frozen=True):
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

    def predicate(self) -> Callable[[Row], bool]:
        """The scope rule over roster rows (`domain.scope.predicate`)."""
        test = scope.predicate(self.given())
        return lambda row: test((row.contract, row.role, row.from_, row.until))


def _matcher(fact: ScopeDefined) -> Matcher:
    return Matcher(
        fact.id,
        fact.contracts,
        fact.roles,
        fact.enrolled_from.isoformat() if fact.enrolled_from else None,
        fact.enrolled_until.isoformat() if fact.enrolled_until else None,
    )


_matcher_decoder = msgspec.msgpack.Decoder(Matcher)


def _match_sql(matcher: Matcher) -> tuple[str, dict[str, str]]:
    """The scope rule as SQL over `member_versions` columns (`scoping.scope_sql`), with its parameters."""
    params = {
        field: json.dumps(value) if isinstance(value, tuple) else str(value)
        for field, value in matcher.given().items()
        if value is not None
    }
    return scope_sql({field: f":{field}" for field in params}), params


async def matchers_of(db: Db, insurer: str) -> list[Matcher]:
    """The tallied scopes of `insurer`, read back from their facts."""
    async with db.execute("SELECT matcher FROM tallied_scopes WHERE insurer = ? ORDER BY pos", (insurer,)) as cursor:
        return [_matcher_decoder.decode(bytes(r[0])) for r in await cursor.fetchall()]


class Scopes:
    """Every insurer's tallied scopes (`matchers_of`), read in one statement when first asked
    and kept until `forget()` (a scope tallied): a catch-up asks for them with every roster
    and NIR group, thousands of statements per million members otherwise."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._by_insurer: dict[str, list[Matcher]] | None = None

    async def of(self, insurer: str) -> list[Matcher]:
        """The tallied scopes of `insurer`, in the order of their facts."""
        if self._by_insurer is None:
            found: dict[str, list[Matcher]] = {}
            async with self.db.execute("SELECT insurer, matcher FROM tallied_scopes ORDER BY insurer, pos") as cursor:
                for owner, matcher in await cursor.fetchall():
                    found.setdefault(str(owner), []).append(_matcher_decoder.decode(bytes(matcher)))
            self._by_insurer = found
        return self._by_insurer.get(insurer, [])

    def forget(self) -> None:
        """Read them again at the next question (a scope was tallied)."""
        self._by_insurer = None


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
    await regroup_nirs(db, nirs)


REGROUP_CHUNK: Final = 10_000


def holders_of_nirs(db: Db, table: str) -> str:
    """A `FROM` clause: `j`, each NIR of the JSON array `:nirs`, and `t`, the rows of `table`
    (`nir_recent` or `nir_members`) that hold it, probed one NIR at a time. On PostgreSQL the
    probe is a LATERAL subquery kept apart (`OFFSET 0`), so the list drives the join whatever
    the statistics say: right after `nir_recent` is merged away they say it is empty while it
    fills again, and at 5 M the plain join then scanned the whole refilled table once per
    call (16 M buffer reads for 4,249 rows, up to 22 s a call) until autovacuum analysed it."""
    if db.dialect == POSTGRES:
        return f"json_each(:nirs) j CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE t.nir = j.value OFFSET 0) t"
    return f"json_each(:nirs) j JOIN {table} t ON t.nir = j.value"


async def regroup_nirs(db: Db, nirs: Iterable[str], scopes: Scopes | None = None) -> None:
    """Give each NIR group in `nirs` its current shape (`nir_groups`) and move its count
    in `people_tallies` from the old shape to the new (see projections/schema.py).
    `scopes`: the tallied scopes as the caller knows them (read here if not given).

    A shape lists, for each member row holding the NIR, its insurer and the tallied scopes
    it matches; a group holding a member enrolled more than once has the shape ''.
    """
    wanted = sorted(set(nirs))
    if not wanted:
        return
    scopes = scopes or Scopes(db)
    matchers: dict[str, list[Matcher]] = {}
    moved: Counter[str] = Counter()
    for start in range(0, len(wanted), REGROUP_CHUNK):
        chunk = {"nirs": json.dumps(wanted[start : start + REGROUP_CHUNK])}
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for table in ("nir_recent", "nir_members"):
            async with db.execute(
                "SELECT t.nir, t.insurer, v.multi, v.role, v.contract, v.from_day, v.until_day"
                f" FROM {holders_of_nirs(db, table)}"
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
                matchers[insurer] = await scopes.of(insurer)
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


def _shape(rows: Sequence[tuple[Any, ...]], matchers: dict[str, list[Matcher]]) -> str:
    """The shape of a NIR group from its rows (insurer, multi, role, contract, from, until)."""
    if any(multi for _, multi, *_ in rows):
        return ""
    members = sorted(
        [insurer, [s.id for s in matchers[insurer] if s.predicate()(Row("", role, contract, start, end))]]
        for insurer, _, role, contract, start, end in rows
    )
    return json.dumps(members, separators=(",", ":"))
