"""Moving up: copy a ledger to another store, fact for fact, byte for byte.

The stored events are copied as they are (same positions, same topics, same
bytes, hence the same ids, times and audit hashes), in batches, and the target's
projections catch up from them. By default both stores use the same key file:
pseudonyms and, for encrypted stores, payloads stay valid. `--encrypt` makes the
copy a SQLCipher file and `--decrypt` a file in clear; either way the copy gets a
key file of its own with the same NIR key (pseudonyms stay valid) and the same
payload key (payloads are copied as stored, encrypted or not), plus a new file key
for `--encrypt`.

A copy must not launder tampering: the source is verified first (a store that fails
`audit verify` is refused, exit 3, unless forced), and the leaves earlier verifications
remembered (`audit_leaves`) are copied too, so that a forced copy of a tampered store
fails verification exactly as its source does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from eventsourcing.persistence import StoredEvent

from domain.errors import AuditFailure, StoreError
from ledger import audit, backends
from ledger import keys as key_files
from ledger.application import LEDGER_ID
from ledger.store import Store, default_key_file

PAGE = 1_000
Protection = Literal["same", "encrypt", "decrypt"]


async def copy_store(
    source: Store,
    target_location: str,
    key_file: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    protection: Protection = "same",
    target_key_file: Path | None = None,
    force: bool = False,
) -> tuple[Store, int, Path]:
    """Create `target_location` with the source's settings and copy every fact into it.

    Returns the copy, the number of facts and the copy's key file. `AuditFailure` when
    the source fails verification, unless `force`.
    """
    try:
        await audit.verify(source)
    except AuditFailure:
        if not force:
            raise
    keys = source.keys_for("copying a store needs it (the copy is made with the same keys)")
    target_keys, target_key_path = keys, key_file
    if protection != "same":
        target_keys, target_key_path = _own_keys(source, keys, target_location, protection, target_key_file)
    try:
        target, created = await Store.init(target_location, target_key_path, timezone=source.tz.key, keys=target_keys)
    except BaseException:
        if target_key_path != key_file:
            target_key_path.unlink(missing_ok=True)
        raise
    if not created or target.ledger.last_notification() > 0:
        await target.close()
        raise StoreError(f"{target.location.display} already holds a ledger: copy only into a new, empty store")
    total = source.ledger.last_notification()
    copied = 0
    start = 1
    while True:
        notes = source.ledger.notifications(start, PAGE)
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
    await _copy_leaves(source, target)
    await target.catch_up()
    return target, copied, target_key_path


def protection(flag: str | None) -> Protection:
    """`--encrypt`, `--decrypt` or neither."""
    return "encrypt" if flag == "encrypt" else "decrypt" if flag == "decrypt" else "same"


def _own_keys(
    source: Store, keys: key_files.Keys, target: str, protection: Protection, key_file: Path | None
) -> tuple[key_files.Keys, Path]:
    """The copy's own key file: the same NIR and payload keys, a new file key for `encrypt`."""
    location = backends.parse_location(target)
    if location.path is None:
        raise StoreError(
            "--encrypt and --decrypt make a SQLite copy; a PostgreSQL server encrypts at rest itself"
            " (disk or tablespace encryption, see docs/SECURITY.md)"
        )
    if location.path.exists():
        raise StoreError(f"{location.display} already exists: copy only into a new, empty store")
    own = replace(
        keys,
        cipher_key=keys.cipher_key if source.encrypted else None,
        file_key=secrets.token_bytes(32) if protection == "encrypt" else None,
    )
    path = key_file or default_key_file(target)
    key_files.create(path, own)
    return own, path


async def _copy_leaves(source: Store, target: Store) -> None:
    """The leaves the source's verifications remembered, for the same ledger origin."""
    async with source.write_db.execute(
        "SELECT ledger, position, leaf FROM audit_leaves ORDER BY ledger, position"
    ) as c:
        leaves = [(str(ledger), int(position), bytes(leaf)) for ledger, position, leaf in await c.fetchall()]
    if not leaves:
        return
    await target.write_db.begin("audit_leaves")
    try:
        await target.write_db.executemany("INSERT INTO audit_leaves (ledger, position, leaf) VALUES (?, ?, ?)", leaves)
        await target.write_db.commit()
    except BaseException:
        await target.write_db.rollback()
        raise
