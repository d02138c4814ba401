"""The outcome of the last verification, kept in the store's settings (`last_verification`).

`ledger.audit` records it after every verification; every other command reads it, through
`last_failure`, to warn that the store failed its last verification. Kept apart from
`ledger.audit` so that a query loads none of the audit's libraries (cryptography, the
replay) to read one setting.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from domain.errors import AuditFailure
from domain.times import iso_utc
from projections.db import Db

if TYPE_CHECKING:
    from ledger.store import Store

OUTCOME_KEY: Final = "last_verification"
FACTS_CHECKED: Final = "facts"
PROJECTIONS_CHECKED: Final = "projections"


async def record_outcome(store: Store, scope: str, problem: AuditFailure | None) -> None:
    """Keep the outcome of a verification in the settings (never fails the verification itself).

    A failure is kept until a verification of the same scope passes: a projections failure
    (found by `replay` or `verify --projections`) is not cleared by a plain `verify`, which
    does not look at the projections.
    """
    try:
        previous = await last_failure(store)
        if problem is None and (previous is None or previous["scope"] not in (scope, FACTS_CHECKED)):
            return
        value = (
            None
            if problem is None
            else json.dumps({"scope": scope, "at": iso_utc(datetime.now(UTC)), "problem": str(problem)[:500]})
        )
        if value is None:
            await store.write_db.execute("DELETE FROM exposure_settings WHERE key = ?", (OUTCOME_KEY,))
        else:
            await store.write_db.execute(
                "INSERT INTO exposure_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (OUTCOME_KEY, value),
            )
        await store.write_db.commit()
    except Exception:  # noqa: BLE001 - a store too damaged to keep the outcome still reports the finding
        await _quiet_rollback(store.write_db)


async def _quiet_rollback(db: Db) -> None:
    with contextlib.suppress(Exception):  # nothing more to undo
        await db.rollback()


async def last_failure(store: Store) -> dict[str, str] | None:
    """The last failed verification kept in the settings ({scope, at, problem}), or None."""
    try:
        async with store.write_db.execute(
            "SELECT value FROM exposure_settings WHERE key = ?", (OUTCOME_KEY,)
        ) as cursor:
            row = await cursor.fetchone()
        found = json.loads(str(row[0])) if row else None
    except Exception:  # noqa: BLE001 - an unreadable outcome is reported as a failure of unknown cause
        return {"scope": FACTS_CHECKED, "at": "?", "problem": "the outcome of the last verification is unreadable"}
    if found is None:
        return None
    if not isinstance(found, dict):
        return {"scope": FACTS_CHECKED, "at": "?", "problem": "the outcome of the last verification is unreadable"}
    return {k: str(found.get(k, "?")) for k in ("scope", "at", "problem")}
