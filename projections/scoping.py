"""The scope rule (`domain.scope.RULE`) as SQL over member rows.

`scope_sql` writes one clause per criterion the scope gives, each the SQL reading of its
test; tests/domain/test_scope.py runs it in SQLite against `domain.scope.predicate` on
random scopes and members.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from domain.scope import RULE, Test

COLUMNS: Final = {"contract": "contract", "role": "role", "from": "from_day", "until": "until_day"}
"""The `member_versions` column of each member attribute."""

_TESTS: Final[dict[Test, str]] = {
    "one of": "{member} IN (SELECT value FROM json_each({given}))",
    "on or after": "({member} IS NULL OR {member} >= {given})",
    "on or before": "({member} IS NULL OR {member} <= {given})",
}
"""Each test in SQL: `given` is a JSON list for `one of`, an ISO date otherwise."""


def scope_sql(given: Mapping[str, str], *, table: str = "", nullable: bool = False) -> str:
    """SQL true for the member rows (alias `table`) that a scope covers.

    `given`: the SQL expression of each scope field the scope gives (a field left out is no
    criterion). `nullable`: the expressions may be NULL at run time, meaning no criterion.
    """
    prefix = f"{table}." if table else ""
    clauses = []
    for criterion in RULE:
        expression = given.get(criterion.field)
        if expression is None:
            continue
        clause = _TESTS[criterion.test].format(member=prefix + COLUMNS[criterion.member], given=expression)
        clauses.append(f"({expression} IS NULL OR {clause})" if nullable else clause)
    return " AND ".join(clauses) or "1 = 1"
