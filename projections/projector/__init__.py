"""Catch-up projectors: read the ledger's notification log after their tracked
position and write view rows and the new position in one transaction.

Two projections, each with its own position in `projection_state` (state):
- `facts`: one row per fact, retractions, member findings and notices (light; facts);
- `members`: the roster rows of `members-enrolled` facts (heavy: millions; members,
  with the scopes' tallies in scopes and the roster's row types in rows).
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

import importlib
from typing import TYPE_CHECKING

from projections.projector.state import (
    ENROLLED_TOPIC,
    FACTS,
    MEMBERS,
    PAGE,
    REBUILD_HINT,
    SCOPE_TOPIC,
    Ledger,
    Progress,
    ProjectionDamaged,
    check_positions,
    create_tables,
    damage_of,
    drop_tables,
    position,
    save_position,
)

if TYPE_CHECKING:  # loaded on first use (`__getattr__`): a query on current projections projects nothing
    from projections.projector.facts import catch_up_facts, process_event
    from projections.projector.members import (
        MEMBER_ROWS_PER_TRANSACTION,
        NIR_MERGE_RATIO,
        NIR_MERGE_ROWS,
        catch_up,
        catch_up_members,
        project_members,
    )
    from projections.projector.rows import Roster, Row, roster_decoder
    from projections.projector.scopes import REGROUP_CHUNK, Matcher, matchers_of, regroup_nirs, tally_scope

_LAZY: dict[str, str] = {
    **dict.fromkeys(("catch_up_facts", "process_event"), "facts"),
    **dict.fromkeys(
        (
            "MEMBER_ROWS_PER_TRANSACTION",
            "NIR_MERGE_RATIO",
            "NIR_MERGE_ROWS",
            "catch_up",
            "catch_up_members",
            "project_members",
        ),
        "members",
    ),
    **dict.fromkeys(("Roster", "Row", "roster_decoder"), "rows"),
    **dict.fromkeys(("REGROUP_CHUNK", "Matcher", "matchers_of", "regroup_nirs", "tally_scope"), "scopes"),
}
"""Name -> the module of this package that defines it, imported when the name is first read."""
_MODULES = frozenset(("facts", "members", "rows", "scopes", "state"))


def __getattr__(name: str) -> object:
    """The projecting half of the package, loaded when a catch-up needs it (start-up time:
    `exposure summary` on current projections reads tables and positions only)."""
    if name in _MODULES:  # `projector.members` before anything imported it
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ENROLLED_TOPIC",
    "FACTS",
    "MEMBERS",
    "MEMBER_ROWS_PER_TRANSACTION",
    "NIR_MERGE_RATIO",
    "NIR_MERGE_ROWS",
    "PAGE",
    "REBUILD_HINT",
    "REGROUP_CHUNK",
    "SCOPE_TOPIC",
    "Ledger",
    "Matcher",
    "Progress",
    "ProjectionDamaged",
    "Roster",
    "Row",
    "catch_up",
    "catch_up_facts",
    "catch_up_members",
    "check_positions",
    "create_tables",
    "damage_of",
    "drop_tables",
    "matchers_of",
    "position",
    "process_event",
    "project_members",
    "regroup_nirs",
    "roster_decoder",
    "save_position",
    "tally_scope",
]
