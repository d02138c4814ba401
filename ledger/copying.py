"""Moving up: copy a ledger to another store, fact for fact, byte for byte.

The stored events are copied as they are (same positions, same topics, same
bytes, hence the same ids, times and audit hashes), in batches, and the target's
projections catch up from them. Both stores use the same key file: pseudonyms
and, for encrypted stores, payloads stay valid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from domain.errors import StoreError
from ledger.application import LEDGER_ID
from ledger.store import Store

PAGE = 1_000


async def copy_store(
    source: Store, target_location: str, key_file: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[Store, int]:
    """Create `target_location` with the source's settings and copy every fact into it."""
    encrypted = source.keys.cipher_key is not None
    target, created = await Store.init(
        target_location, key_file, timezone=source.tz.key, encrypt=encrypted, shared_keys=source.keys
    )
    if not created or target.ledger.last_notification() > 0:
        await target.close()
        raise StoreError(f"{target.location.display} already holds a ledger: copy only into a new, empty store")
    total = source.ledger.last_notification()
    copied = 0
    start = 1
    while True:
        notes = source.ledger.notifications(start=start, limit=PAGE)
        if not notes:
            break
        target.ledger.insert_stored(
            [
                StoredEvent(
                    originator_id=LEDGER_ID, originator_version=n.originator_version, topic=n.topic, state=n.state
                )
                for n in notes
            ]
        )
        copied += len(notes)
        start = notes[-1].id + 1
        if progress is not None:
            progress(copied, total)
    await target.catch_up()
    return target, copied
