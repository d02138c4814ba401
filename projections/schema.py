"""Tables of the read side (SQLite). Projections are disposable: `rebuild` drops
them and catching up from the facts gives identical answers.

Times are integer microseconds since the Unix epoch (UTC); `pos` is the fact's
append position in the ledger. A row is visible "as known on X, as recorded at
position P" when `known_us <= X AND pos <= P` and its fact is not retracted at
that horizon (see `queries.horizon`).

NIR pseudonyms are looked up in two tables of (nir, insurer, ref, pos), a small
`nir_recent` that takes each roster's pseudonyms and a large `nir_members` into which
`nir_recent` is merged in key order once it holds a quarter as many rows (a two-level
log-structured merge): random keys only ever land in a table small enough for the page
cache, where an index on `member_versions (nir)` made every insert dirty a page of a
table larger than the cache at 20 million members. `nir_levels` keeps both row counts.
`shared_members` lists the member rows whose NIR occurs in more than one row:
"people" is memberships minus duplicates, computed over those rows only.
`count_cache` keeps member counts per (incident, insurer, knowledge state): the
state is the set of visible facts that decide the insurer's answers, so a count
is computed once per state and never goes stale. Its `origin` names the call that computed
it (incident, insurer, horizon): `audit replay` makes the same call on projections rebuilt
from the facts and compares, so a cached count is checked like every other row.

`multi` marks a member (or a member finding) with more than one version: only
those need the "is there a later visible version?" subquery.

`member_tallies` keeps member counts maintained as rosters are projected, so that no
count scans the member rows: per (insurer, scope, roster fact), how many of that
roster's single-version members (`multi = 0`) there are (`scope` = '') and how many
match the scope of each `scope-defined` fact about the insurer (`scope` = that fact's
id, listed in `tallied_scopes` once its tallies exist). A tally row carries its roster's
`known_us` and `pos`, so the counts at any horizon are a sum over visible tally rows; a
member that gets a second version is taken out of its roster's tallies (it is counted
through the few `multi` rows instead, listed in `multi_members`).

`people_tallies` keeps the people count maintained the same way. Only NIRs held by more
than one member row can make two memberships one person; each such NIR group is listed in
`nir_groups` with its `shape`: for each of its rows, the insurer and the tallied scopes
the row matches (JSON, sorted). `people_tallies` counts the groups of each shape. Once
every roster is visible, a group's affected memberships follow from its shape and the
incident's view alone (insurer affected, its current scope), so the repeats are a sum
over shapes: nothing is read from the member rows but the groups with a finding in the
incident and those that hold a member enrolled more than once (`shape` = '', found through
the partial index `nir_groups_unshaped`: a cold summary at 20 M members scanned the 271,000
groups for them, 28 ms of CPU).
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 6
"""Stored in `projection_state`; projections of another version are rebuilt from the facts."""

SETTINGS: Final = """
CREATE TABLE IF NOT EXISTS exposure_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

PROJECTION_TABLES: Final = (
    "projection_state",
    "facts",
    "retractions",
    "member_versions",
    "member_findings",
    "member_notices",
    "shared_nirs",  # schema version 1-2; dropped when an older store is rebuilt
    "shared_members",
    "nir_recent",
    "nir_members",
    "nir_levels",
    "count_cache",
    "member_tallies",
    "tallied_scopes",
    "multi_members",
    "nir_groups",
    "people_tallies",
)

_NIR_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS {name} (
        nir TEXT NOT NULL,
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (nir, insurer, ref, pos)
    ) WITHOUT ROWID
    """
"""The two levels of the NIR lookup (see above) have one definition."""

DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS shared_members (
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        PRIMARY KEY (insurer, ref)
    ) WITHOUT ROWID
    """,
    *(_NIR_TABLE.format(name=name) for name in ("nir_recent", "nir_members")),
    """
    CREATE TABLE IF NOT EXISTS nir_levels (
        name TEXT PRIMARY KEY,
        rows INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS count_cache (
        key TEXT PRIMARY KEY,
        counts TEXT NOT NULL,
        origin TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS projection_state (
        name TEXT PRIMARY KEY,
        notification_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        schema_version INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS facts (
        pos INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        known_us INTEGER NOT NULL,
        occurred_us INTEGER NOT NULL,
        recorded_us INTEGER NOT NULL,
        incident TEXT,
        insurer TEXT,
        target TEXT,
        body BLOB NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS facts_by_incident ON facts (incident, known_us)",
    "CREATE INDEX IF NOT EXISTS facts_by_insurer ON facts (insurer, kind)",
    "CREATE INDEX IF NOT EXISTS facts_by_recorded ON facts (recorded_us)",
    "CREATE INDEX IF NOT EXISTS facts_by_kind ON facts (kind)",
    """
    CREATE TABLE IF NOT EXISTS retractions (
        target_pos INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        PRIMARY KEY (target_pos, pos)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS member_versions (
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        role TEXT,
        contract TEXT,
        from_day TEXT,
        until_day TEXT,
        nir TEXT,
        multi INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (insurer, ref, pos)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS multi_members (
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        PRIMARY KEY (insurer, ref)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS member_tallies (
        insurer TEXT NOT NULL,
        scope TEXT NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        members INTEGER NOT NULL,
        PRIMARY KEY (insurer, scope, pos)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS tallied_scopes (
        scope TEXT PRIMARY KEY,
        insurer TEXT NOT NULL,
        pos INTEGER NOT NULL,
        matcher BLOB NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS nir_groups (
        nir TEXT PRIMARY KEY,
        shape TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    # The groups the shapes cannot count (`shape` = ''), found without reading every group.
    "CREATE INDEX IF NOT EXISTS nir_groups_unshaped ON nir_groups (nir) WHERE shape = ''",
    """
    CREATE TABLE IF NOT EXISTS people_tallies (
        shape TEXT PRIMARY KEY,
        groups INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS member_findings (
        incident TEXT NOT NULL,
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        status TEXT NOT NULL,
        multi INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (incident, insurer, ref, pos)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS member_notices (
        incident TEXT NOT NULL,
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        occurred_us INTEGER NOT NULL,
        PRIMARY KEY (incident, insurer, ref, pos)
    ) WITHOUT ROWID
    """,
)
