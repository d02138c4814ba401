"""Stored and replayed answers compared, the first difference named (members page by page)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncGenerator
from typing import Any, Final

import msgspec

from domain.errors import AuditFailure
from projections import queries
from projections.db import Db

MEMBER_COLUMNS: Final = (
    "insurer",
    "ref",
    "role",
    "contract",
    "from",
    "until",
    "nir",
    "enrolled_by",
    "finding",
    "status",
    "fields",
)


async def _member_pages(db: Db, incident: str, h: queries.Horizon) -> AsyncGenerator[list[tuple[Any, ...]]]:
    """Every enrolled member's answer in `incident` at `h` (see MEMBER_COLUMNS), in pages, by insurer and ref."""
    view = await queries.incident_view(db, incident, h)
    params = {"incident": incident, "scopes": queries.scopes_json(view), **h.params()}
    fields: dict[str, tuple[str, ...]] = {}
    sql = (
        "SELECT insurer, ref, role, contract, from_day, until_day, nir, enrolled_pos, finding_pos, status"
        f" FROM ({queries.member_status_sql('1 = 1')}) AS m ORDER BY insurer, ref"
    )
    async with db.execute(sql, params) as cursor:
        while True:
            page = await cursor.fetchmany(2048)
            if not page:
                return
            rows = []
            for row in page:
                insurer, status = row[0], row[9]
                if insurer not in fields:
                    fields[insurer] = tuple(view.exposed_fields(insurer))
                rows.append((*row, fields[insurer] if status in queries.AFFECTED else ()))
            yield rows


async def check_same_members(
    stored: Db,
    fresh: Db,
    incident: str,
    h_stored: queries.Horizon,
    h_fresh: queries.Horizon,
    label: str,
) -> int:
    """Compare every member's answer, page by page; the number compared.

    Both readers are closed whatever happens (`aclosing`): a difference raised while they
    hold an open cursor must not leave a generator for the event loop to finalise noisily.
    """
    async with (
        contextlib.aclosing(_member_pages(stored, incident, h_stored)) as mine,
        contextlib.aclosing(_member_pages(fresh, incident, h_fresh)) as theirs,
    ):
        a: list[tuple[Any, ...]] = []
        b: list[tuple[Any, ...]] = []
        count = 0
        while True:
            a = a or await anext(mine, [])
            b = b or await anext(theirs, [])
            if not a and not b:
                return count
            n = min(len(a), len(b))
            if a[:n] != b[:n] or n == 0:
                _first_member_difference(a, b, incident, label)
            count += n
            a, b = a[n:], b[n:]


def _first_member_difference(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], incident: str, label: str) -> None:
    for x, y in itertools.zip_longest(a, b):
        if x == y:
            continue
        if x is None or (y is not None and x[:2] > y[:2]):
            raise AuditFailure(f"replay differs: member {y[0]}/{y[1]} in {incident} {label} is only in the replay")
        if y is None or x[:2] < y[:2]:
            raise AuditFailure(
                f"replay differs: member {x[0]}/{x[1]} in {incident} {label} is only in the stored projections"
            )
        check_same(
            f"member {x[0]}/{x[1]} in {incident} {label}",
            dict(zip(MEMBER_COLUMNS, x, strict=True)),
            dict(zip(MEMBER_COLUMNS, y, strict=True)),
        )


def check_same(what: str, stored: Any, replayed: Any) -> None:
    """`AuditFailure` naming the first difference of two answers (Structs or JSON values)."""
    if stored == replayed:
        return
    difference = _first_difference(stored, replayed)
    if difference is not None:
        path, struct_a, struct_b = difference
        a, b = msgspec.to_builtins(struct_a, enc_hook=str), msgspec.to_builtins(struct_b, enc_hook=str)
        at = f" at {path}" if path else ""
        raise AuditFailure(
            f"replay differs: {what}{at}: stored {json.dumps(a, default=str)}, replayed {json.dumps(b, default=str)}"
        )


def _keyed(value: Any) -> dict[Any, Any] | None:
    """A dict, or a Struct's values by their JSON names (an `UNSET` field is no key); None otherwise."""
    if isinstance(value, msgspec.Struct):
        found = ((f.encode_name, getattr(value, f.name)) for f in msgspec.structs.fields(value))
        return {key: item for key, item in found if item is not msgspec.UNSET}
    return value if isinstance(value, dict) else None


def _first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    keyed_a, keyed_b = _keyed(a), _keyed(b)
    if keyed_a is not None and keyed_b is not None:
        for key in sorted(set(keyed_a) | set(keyed_b), key=str):
            if key not in keyed_a or key not in keyed_b:
                return (f"{path}.{key}".lstrip("."), keyed_a.get(key), keyed_b.get(key))
            found = _first_difference(keyed_a[key], keyed_b[key], f"{path}.{key}")
            if found:
                return (found[0].lstrip("."), found[1], found[2])
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else (path, a, b)
