"""The stored rows in append order, each decoded (a problem named by its position), and
the ledger's names in exported events (`origin`, `source`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import msgspec

from domain.errors import AuditFailure
from domain.facts import TOPIC_PREFIX, Fact, kind_of
from ledger import stored_events
from ledger.application import LEDGER_ID
from ledger.store import Store

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    pass


# -- naming the ledger ------------------------------------------------------------------


async def ledger_uuid(store: Store) -> uuid.UUID:
    """This ledger's public name: derived from its key's public fingerprint, stable forever."""
    async with store.db.execute("SELECT value FROM exposure_settings WHERE key = 'key_fingerprint'") as cursor:
        row = await cursor.fetchone()
    return uuid.uuid5(LEDGER_ID, str(row[0]) if row else "")


async def origin(store: Store) -> str:
    """The checkpoint origin line of this ledger."""
    return f"exposure.ledger/{await ledger_uuid(store)}"


async def source(store: Store) -> str:
    """The CloudEvents `source` of this ledger's facts."""
    return f"urn:exposure:ledger:{await ledger_uuid(store)}"


async def stored_rows(store: Store) -> AsyncIterator[tuple[int, str, int, str, bytes]]:
    """(row id, originator id, version, topic, state) of every stored event, in row order.

    Read straight from the events table (`stored_events.rows`): every row whatever its
    row id, every value type-checked, never through the aggregate's version-ordered read,
    so that a row deleted, inserted, moved or retyped shows.
    """
    async for row in stored_events.rows(store.write_db):
        yield row.row, str(LEDGER_ID), row.version, row.topic, row.state


def decode_stored(store: Store, position: int, topic: str, state: bytes) -> Fact:
    try:
        fact = store.ledger.decode(state)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError) as problem:
        raise AuditFailure(
            f"position {position}: the stored fact does not decode ({short_problem(problem)})", position
        ) from None
    except Exception as problem:  # noqa: BLE001 - a cipher's own error (e.g. a bad tag) is a bad fact, never a crash
        raise AuditFailure(
            f"position {position}: the stored fact does not decrypt ({type(problem).__name__})", position
        ) from None
    if not isinstance(fact, Fact):  # pragma: no cover - the decoder only returns facts
        raise AuditFailure(f"position {position}: not a fact", position)
    if topic != TOPIC_PREFIX + kind_of(fact):
        raise AuditFailure(
            f"position {position}: stored topic {topic[:80]!r} but the fact is a {kind_of(fact)!r}", position
        )
    return fact


def short_problem(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return (text[0] if text else type(problem).__name__)[:200]
