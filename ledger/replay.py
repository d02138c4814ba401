"""Projections rebuilt from the facts, compared with the stored ones table by table.

`audit replay` and `audit verify --projections` rebuild every projection from the facts
alone, with the same projector code, in a fresh temporary SQLite file, then read every
projection table of both sides in one canonical order and compare them row by row, keeping
a SHA-256 digest of each table's canonical rows. The first row that differs is named: its
table, its key, and the column that differs (or the side it is missing from).

Canonical means independent of how the store got there (one import or many, SQLite or
PostgreSQL, which process caught up when):

- every table is read with `ORDER BY` every column (`NULLS FIRST`); text compares bytewise on
  both backends (PostgreSQL's columns are `COLLATE "C"`), as Python compares `str`;
- each value is encoded with its type (msgpack, a page of rows at a time: `_packer`), so an
  INTEGER edited into TEXT differs;
- the two levels of the NIR lookup are one table (`nir_recent` + `nir_members`): when
  `nir_recent` is merged into `nir_members` depends on batch sizes, not on the facts;
  `nir_levels` is reduced to "does each stated row count match its table";
- `count_cache` holds counts computed on demand: each stored row names the call that
  computed it (`origin`); the same calls are made on the rebuilt side before comparing, so
  every cached count is compared with a count computed afresh from the facts.

docs/AUDIT.md §5 argues why equal tables give equal answers at every horizon.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from domain.errors import AuditFailure, LedgerError
from projections import projector, queries
from projections.db import Db, SqliteDb

Progress = Callable[[str, int, int], None]
"""(phase, done, total): what the progress bar shows."""

PAGE: Final = 4096
NIR_LEVELS: Final = ("nir_recent", "nir_members")
NIR_VIEW: Final = "nir_recent + nir_members"
SKIPPED: Final = frozenset({"nir_levels", *NIR_LEVELS})
"""Tables compared through a canonical view instead of as they are (see the module's docstring)."""


@dataclass(frozen=True)
class View:
    """One canonical projection table: a name, its columns, its key columns and its query."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class TableDigest:
    """A projection table compared: its canonical rows' count and SHA-256."""

    table: str
    rows: int
    digest: str


# -- rebuilding ---------------------------------------------------------------------------


async def fresh_projections(fresh: SqliteDb, ledger: Any, progress: Progress | None = None) -> SqliteDb:
    """Every projection rebuilt from the facts alone in `fresh`, a new SQLite file (closed on failure)."""
    try:
        await fresh.execute("PRAGMA journal_mode = OFF")
        await fresh.execute("PRAGMA synchronous = OFF")
        await projector.create_tables(fresh)

        def rebuilt(done: int, total: int) -> None:
            if progress is not None:
                progress("rebuild", done, total)

        await projector.catch_up(fresh, ledger, rebuilt)
    except BaseException:
        await fresh.close()
        raise
    return fresh


async def fill_caches(stored: Db, fresh: Db) -> None:
    """Make, on the rebuilt side, every `member_counts` call that filled the stored `count_cache`."""
    try:
        async with stored.execute("SELECT DISTINCT origin FROM count_cache ORDER BY origin") as cursor:
            origins = [row[0] for row in await cursor.fetchall()]
    except Exception as problem:  # noqa: BLE001 - a damaged cache table is a finding, named like any other
        raise AuditFailure(f"replay differs: table count_cache cannot be read ({_first_line(problem)})") from None
    for origin in origins:
        try:
            incident, insurer, known_us, position, people = json.loads(str(origin))
            h = await queries.horizon_at(fresh, int(known_us), int(position))
            view = await queries.incident_view(fresh, str(incident), h)
            named = None if insurer is None else str(insurer)
            await queries.member_counts(fresh, view, h, named, people=bool(people))
        except (ValueError, TypeError, LedgerError):
            raise AuditFailure(
                f"replay differs: table count_cache: origin {str(origin)[:120]!r} names no count the facts give"
            ) from None


# -- the canonical tables -----------------------------------------------------------------


async def views(fresh: SqliteDb) -> list[View]:
    """The canonical view of every projection table of the rebuilt side (see the module's docstring)."""
    async with fresh.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ) as cursor:
        tables = [str(r[0]) for r in await cursor.fetchall()]
    found = []
    for table in tables:
        if table in SKIPPED:
            continue
        async with fresh.execute("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", (table,)) as cursor:
            info = [(str(name), int(pk)) for name, pk in await cursor.fetchall()]
        columns = tuple(name for name, _ in info)
        key = tuple(name for name, pk in sorted(info, key=lambda c: c[1]) if pk) or columns
        if table == "count_cache":
            columns = ("key", "counts")  # `origin` says which call computed a row, not what it holds
        found.append(View(table, columns, key, _select(table, columns, key)))
    nir = ("nir", "insurer", "ref", "pos")
    union = " UNION ALL ".join(f"SELECT {', '.join(nir)} FROM {t}" for t in NIR_LEVELS)
    found.append(View(NIR_VIEW, nir, nir, f"{union} ORDER BY {_order(nir)}"))
    levels = " UNION ALL ".join(
        f"SELECT '{t}' AS level, CASE WHEN COALESCE((SELECT rows FROM nir_levels WHERE name = '{name}'), 0)"
        f" = (SELECT COUNT(*) FROM {t}) THEN 1 ELSE 0 END AS counted"
        for t, name in zip(NIR_LEVELS, ("recent", "members"), strict=True)
    )
    found.append(View("nir_levels", ("level", "counted"), ("level",), f"{levels} ORDER BY level"))
    return found


def _order(columns: Sequence[str]) -> str:
    return ", ".join(f"{c} NULLS FIRST" for c in columns)


def _select(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    rest = [c for c in columns if c not in key]
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY {_order([*key, *rest])}"


# -- comparing ----------------------------------------------------------------------------


async def compare(stored: Db, fresh: SqliteDb, progress: Progress | None = None) -> list[TableDigest]:
    """Compare every canonical table; their digests, or `AuditFailure` naming the first differing row."""
    digests = []
    for view in await views(fresh):
        digests.append(await _compare_view(stored, fresh, view, progress))
    return digests


async def _compare_view(stored: Db, fresh: Db, view: View, progress: Progress | None) -> TableDigest:
    """Both sides' canonical rows compared a page at a time: equal pages are equal as typed
    msgpack (one C call per page, not Python per value); the first page that differs is
    compared row by row to name its first differing row."""
    total = await _count(fresh, view)
    digest = hashlib.sha256()
    count = 0
    async with (
        contextlib.aclosing(pages(stored, view, "the stored projections")) as mine,
        contextlib.aclosing(pages(fresh, view, "the rebuilt projections")) as theirs,
    ):
        while True:
            a = await anext(mine, None)
            b = await anext(theirs, None)
            if a is None and b is None:
                break
            a, b = a or [], b or []
            packed = _packer.encode(a)
            if len(a) != len(b) or packed != _packer.encode(b):
                _name_first_difference(view, a, b)
            digest.update(packed)
            count += len(a)
            if progress is not None:
                progress(view.name, count, total)
    if progress is not None:
        progress(view.name, count, total)
    return TableDigest(view.name, count, digest.hexdigest())


_packer: Final = msgspec.msgpack.Encoder()
"""Rows as typed msgpack: NULL, integers, reals, text and blobs each keep their type (an
INTEGER edited into TEXT differs), bytes from PostgreSQL's memoryviews as blobs."""


def _name_first_difference(view: View, stored: list[Any], fresh: list[Any]) -> None:
    """Raise the `AuditFailure` naming the first row that differs between two pages."""
    for number in range(max(len(stored), len(fresh))):
        a = _plain(stored[number]) if number < len(stored) else None
        b = _plain(fresh[number]) if number < len(fresh) else None
        if a is None or b is None or _packer.encode(a) != _packer.encode(b):
            _name_difference(view, a, b)
    raise AuditFailure(f"replay differs: table {view.name}")  # pragma: no cover - the pages differ


async def _count(db: Db, view: View) -> int:
    async with db.execute(f"SELECT COUNT(*) FROM ({view.sql}) AS counted") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def pages(db: Db, view: View, side: str) -> AsyncGenerator[list[Any]]:
    """The canonical rows of one table, `PAGE` at a time: on PostgreSQL through a server-side
    cursor, so a replay's memory stays flat whatever the number of members."""
    try:
        async with db.stream(view.sql) as cursor:
            while page := list(await cursor.fetchmany(PAGE)):
                yield page
    except AuditFailure:
        raise
    except Exception as problem:  # noqa: BLE001 - a missing or damaged table is a finding, never a crash
        raise AuditFailure(
            f"replay differs: table {view.name} of {side} cannot be read ({_first_line(problem)})"
        ) from None


async def rows(db: Db, view: View, side: str) -> AsyncGenerator[tuple[Any, ...]]:
    """The canonical rows of one table, one at a time (blobs as bytes)."""
    async with contextlib.aclosing(pages(db, view, side)) as paged:
        async for page in paged:
            for row in page:
                yield _plain(row)


def _plain(row: Any) -> tuple[Any, ...]:
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def _name_difference(view: View, stored: tuple[Any, ...] | None, fresh: tuple[Any, ...] | None) -> None:
    """Raise the `AuditFailure` that names the first difference between two rows in canonical order."""
    positions = [view.columns.index(c) for c in view.key]

    def key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in positions)

    def named(row: tuple[Any, ...]) -> str:
        return ", ".join(f"{c}={_show(v)}" for c, v in zip(view.key, key_of(row), strict=True))

    if fresh is not None and (stored is None or _sort_key(key_of(stored)) > _sort_key(key_of(fresh))):
        raise AuditFailure(f"replay differs: table {view.name}: row {named(fresh)} is missing from the store")
    if stored is None:  # pragma: no cover - both None ends the comparison before
        raise AuditFailure(f"replay differs: table {view.name}")
    if fresh is None or _sort_key(key_of(stored)) < _sort_key(key_of(fresh)):
        raise AuditFailure(
            f"replay differs: table {view.name}: row {named(stored)} is in the store but not in the facts"
        )
    for column, a, b in zip(view.columns, stored, fresh, strict=True):
        if _encode(a) != _encode(b):
            raise AuditFailure(
                f"replay differs: table {view.name}: row {named(stored)}: {column} is {_show(a)} in the store,"
                f" {_show(b)} from the facts"
            )
    raise AuditFailure(f"replay differs: table {view.name}: row {named(stored)}")  # pragma: no cover


_RANK: Final = {type(None): 0, int: 1, float: 1, str: 2, bytes: 3}
"""SQLite's order of storage classes (NULL, numbers, text, blobs), which `ORDER BY` follows."""


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((_RANK.get(type(v), 4), v if v is not None else 0) for v in values)


def _encode(value: Any) -> bytes:
    """A value with its type, unambiguously: equal encodings are equal values of one type."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        text = str(value).encode("ascii")
        return b"I" + struct.pack(">I", len(text)) + text
    if isinstance(value, float):
        return b"R" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return b"T" + struct.pack(">I", len(raw)) + raw
    raw = bytes(value)
    return b"B" + struct.pack(">I", len(raw)) + raw


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return f"x'{value[:24].hex()}{'...' if len(value) > 24 else ''}'"
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return text[0] if text else type(problem).__name__
