"""Tables of the read side (SQLite). Projections are disposable: `rebuild` drops
them and catching up from the facts gives identical answers.

Times are integer microseconds since the Unix epoch (UTC); `pos` is the fact's
append position in the ledger. A row is visible "as known on X, as recorded at
position P" when `known_us <= X AND pos <= P` and its fact is not retracted at
that horizon (see `queries.horizon`).
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

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
)

DDL: Final = (
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
        PRIMARY KEY (insurer, ref, pos)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS member_versions_by_nir ON member_versions (nir) WHERE nir IS NOT NULL",
    """
    CREATE TABLE IF NOT EXISTS member_findings (
        incident TEXT NOT NULL,
        insurer TEXT NOT NULL,
        ref TEXT NOT NULL,
        pos INTEGER NOT NULL,
        known_us INTEGER NOT NULL,
        status TEXT NOT NULL,
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
