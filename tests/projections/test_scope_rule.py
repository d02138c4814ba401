"""The scope rule is defined once (`domain.scope.RULE`); its Python and SQL readings agree.

On random scopes and members, four readings give the same answer: the Python predicate
on dates (`derive.Scope.matches`), the same predicate on ISO text (as the projector's
tallies read rows), and the SQL of `projections.scoping.scope_sql` run in a real SQLite
database, both as the tallies bind a scope (one parameter per given field) and as member
status joins it (a row of columns that may be NULL).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.derive import Scope
from domain.scope import predicate
from projections.scoping import scope_sql

DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2020, 1, 20))
scopes = st.fixed_dictionaries(
    {
        "contracts": st.none() | st.lists(st.sampled_from("ABC"), min_size=1, max_size=3, unique=True),
        "roles": st.none() | st.lists(st.sampled_from(["holder", "dependant"]), min_size=1, unique=True),
        "enrolled_from": st.none() | DAYS,
        "enrolled_until": st.none() | DAYS,
    }
)
members = st.tuples(
    st.none() | st.sampled_from("ABCD"),
    st.none() | st.sampled_from(["holder", "dependant", "other"]),
    st.none() | DAYS,
    st.none() | DAYS,
)


def as_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def in_sql(scope: dict[str, Any], member: tuple[Any, ...]) -> tuple[bool, bool]:
    """Whether the member row is covered (as the tallies bind the scope, as member status joins it)."""
    values = {field: json.dumps(value) if isinstance(value, list) else as_text(value) for field, value in scope.items()}
    bound = {field: value for field, value in values.items() if value is not None}
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE member_versions (contract TEXT, role TEXT, from_day TEXT, until_day TEXT)")
        db.execute("INSERT INTO member_versions VALUES (?, ?, ?, ?)", [as_text(v) for v in member])
        tallied = scope_sql({field: f":{field}" for field in bound})
        (by_tally,) = db.execute(f"SELECT COUNT(*) FROM member_versions WHERE {tallied}", bound).fetchone()
        joined = scope_sql({field: f"sc.{field}" for field in values}, table="cur", nullable=True)
        (by_status,) = db.execute(
            "WITH sc AS (SELECT :contracts AS contracts, :roles AS roles,"
            " :enrolled_from AS enrolled_from, :enrolled_until AS enrolled_until)"
            f" SELECT COUNT(*) FROM member_versions cur, sc WHERE {joined}",
            values,
        ).fetchone()
    return by_tally == 1, by_status == 1


@given(scopes, members)
def test_the_python_and_sql_readings_of_the_scope_rule_agree(scope: dict[str, Any], member: tuple[Any, ...]) -> None:
    as_dates = Scope(
        "scope-1",
        tuple(scope["contracts"]) if scope["contracts"] else None,
        tuple(scope["roles"]) if scope["roles"] else None,
        scope["enrolled_from"],
        scope["enrolled_until"],
    ).matches(*member)
    as_text_rows = predicate({field: as_text(value) for field, value in scope.items()})(tuple(map(as_text, member)))

    assert (as_text_rows, *in_sql(scope, member)) == (as_dates, as_dates, as_dates)


def test_a_member_without_a_contract_is_outside_a_scope_of_contracts() -> None:
    scope = {"contracts": ["A"], "roles": None, "enrolled_from": None, "enrolled_until": None}

    assert in_sql(scope, (None, "holder", None, None)) == (False, False)
    assert not predicate(scope)((None, "holder", None, None))


def test_an_open_ended_enrolment_overlaps_every_period() -> None:
    scope = {"contracts": None, "roles": None, "enrolled_from": date(2020, 1, 5), "enrolled_until": date(2020, 1, 9)}

    assert in_sql(scope, ("A", None, None, None)) == (True, True)
    assert predicate(scope)(("A", None, None, None))
    assert not predicate(scope)(("A", None, None, date(2020, 1, 4)))
    assert not predicate(scope)(("A", None, date(2020, 1, 10), None))
