"""The scope rule (SPEC §3 `scope-defined`): which of an insurer's members a scope covers.

It is defined once, as data: `RULE` names, for each field a scope may give, the member
attribute it tests and how. A member matches a scope when it passes every criterion the
scope gives (a scope gives at least one):

- `one of`: the member's value is in the scope's list; a member without one is outside;
- `on or after` / `on or before`: the member's enrolment period reaches the scope's
  date; an open end (no `until`, no `from`) reaches every date, so periods that overlap match.

Every predicate is built from `RULE`: `predicate` here (Python: `derive.Scope.matches`,
the projector's tallies) and `projections.scoping.scope_sql` (SQL: member status,
tallies). tests/domain/test_scope.py checks that they agree on random scopes and members.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Test = Literal["one of", "on or after", "on or before"]


@dataclass(frozen=True, slots=True)
class Criterion:
    """One test of a scope: its `field` against a member's `member` attribute."""

    field: str
    member: str
    test: Test


RULE: Final = (
    Criterion("contracts", "contract", "one of"),
    Criterion("roles", "role", "one of"),
    Criterion("enrolled_from", "until", "on or after"),
    Criterion("enrolled_until", "from", "on or before"),
)
"""The scope rule. A member's `until` must be on or after the scope's `enrolled_from`;
its `from` on or before the scope's `enrolled_until`."""

MEMBER: Final = ("contract", "role", "from", "until")
"""The member attributes a predicate reads, in the order it reads them."""

Member = Sequence[Any]
"""A member's values in `MEMBER` order (dates as `date` or as ISO text, like the scope's)."""


def _check(test: Test, index: int, given: Any) -> Callable[[Member], bool]:
    if test == "one of":
        allowed = frozenset(given)
        return lambda member: member[index] in allowed
    if test == "on or after":
        return lambda member: member[index] is None or member[index] >= given
    return lambda member: member[index] is None or member[index] <= given


def predicate(given: Mapping[str, Collection[str] | object | None]) -> Callable[[Member], bool]:
    """The test of a scope whose fields are `given` (absent or None: no such criterion)
    over a member's values in `MEMBER` order."""
    checks = [_check(c.test, MEMBER.index(c.member), given[c.field]) for c in RULE if given.get(c.field) is not None]
    return lambda member: all(check(member) for check in checks)
