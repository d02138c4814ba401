"""`audit log`: the facts in append order, late entries (recorded long after they were
known) marked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from domain.audit import leaf_hash
from domain.errors import AuditFailure
from domain.facts import FactRetracted, incident_of, kind_of, to_builtins
from domain.times import iso_utc
from ledger.store import Store

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    pass
from ledger.audit.stored import decode_stored, stored_rows

LATE_AFTER: Final = timedelta(days=7)
"""A fact recorded more than this after its `known_on` is a late entry."""


# -- the log, for people ----------------------------------------------------------------


async def log_entries(
    store: Store,
    kinds: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    incident: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every fact (of `kinds`, recorded in [since, until], about `incident`) with its times,
    author, hash and `late` flag. A fact is about an incident when it names it, or retracts
    a fact that does.

    Read from the stored rows like `verify`: a fact that does not decode is an
    `AuditFailure` naming its position, never a crash.
    """
    wanted = set(kinds)
    about: set[str] = set()
    async for _rowid, _originator, position, topic, state in stored_rows(store):
        fact = decode_stored(store, position, topic, state)
        recorded_at = fact.recorded_at
        if recorded_at is None:
            raise AuditFailure(f"position {position}: the fact has no recorded_at", position)
        if incident is not None:
            if incident_of(fact) != incident and not (isinstance(fact, FactRetracted) and fact.fact in about):
                continue
            about.add(fact.id)
        if wanted and kind_of(fact) not in wanted:
            continue
        if since is not None and recorded_at < since:
            continue
        if until is not None and recorded_at > until:
            continue
        data = to_builtins(fact)
        entry: dict[str, Any] = {
            "position": position,
            "id": fact.id,
            "kind": data.pop("kind"),
            "known_on": iso_utc(fact.known_on),
            "occurred_on": iso_utc(fact.occurred_on),
            "recorded_at": iso_utc(recorded_at),
            "by": fact.by,
            "source": fact.source,
            "hash": leaf_hash(position, topic, state),
            "late": recorded_at - fact.known_on > LATE_AFTER,
        }
        for key, value in data.items():
            entry.setdefault(key, value)
        yield entry
