"""`audit verify`: every stored row checked, every leaf recomputed and compared with the
leaves remembered, and the log proved to extend a head kept from earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from domain import merkle
from domain.audit import leaf_hash
from domain.errors import AuditFailure
from domain.merkle import Checkpoint, Head, ProofError
from domain.times import CLOCK_SKEW, iso_utc
from ledger import guards, stored_events
from ledger.outcome import FACTS_CHECKED, record_outcome
from ledger.store import Store
from projections.db import Db

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    from ledger.signing import Verifier
from ledger.audit.stored import decode_stored, origin, short_problem

# -- verify -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """What a successful verification established."""

    head: Head
    origin: str
    remembered: int
    """Leaves that earlier verifications had remembered and that still match."""
    expected: Head | None = None
    signed_by: str | None = None


@dataclass
class _Leaves:
    hashes: list[bytes] = field(default_factory=list)
    last_recorded: datetime | None = None


async def _check_log(store: Store, remembered: Sequence[bytes] = ()) -> _Leaves:
    """Every check on the stored rows, position by position; the leaf hashes in order.

    `remembered` are the leaves earlier verifications saw: a different leaf at one
    of those positions is a fact changed since.
    """
    found = _Leaves()
    seen: dict[str, int] = {}
    latest = datetime.now(UTC) + CLOCK_SKEW
    async for row in stored_events.rows(store.write_db):
        position = row.position
        if row.version != position:
            raise AuditFailure(
                f"position {position}: the row appended there holds position {row.version}"
                f" (stored row {row.row}: a fact was deleted, inserted or moved)",
                position,
            )
        leaf = bytes.fromhex(leaf_hash(position, row.topic, row.state))
        if position <= len(remembered) and remembered[position - 1] != leaf:
            raise AuditFailure(
                f"position {position}: the stored fact changed since it was verified"
                f" (leaf was {remembered[position - 1].hex()}, now {leaf.hex()})",
                position,
            )
        if not store.can_decode:  # payloads encrypted, no key file: the positions and hashes alone
            found.hashes.append(leaf)
            continue
        fact = decode_stored(store, position, row.topic, row.state)
        if fact.recorded_at is None:
            raise AuditFailure(f"position {position}: the fact has no recorded_at", position)
        if fact.id in seen:
            raise AuditFailure(
                f"position {position}: fact id {fact.id[:80]!r} was already recorded at position {seen[fact.id]}",
                position,
            )
        if found.last_recorded is not None and fact.recorded_at <= found.last_recorded:
            raise AuditFailure(
                f"position {position}: recorded_at {iso_utc(fact.recorded_at)} is not after the previous fact's"
                f" {iso_utc(found.last_recorded)} (facts were reordered or back-dated)",
                position,
            )
        if fact.recorded_at > latest:
            raise AuditFailure(
                f"position {position}: recorded_at {iso_utc(fact.recorded_at)} lies in the future"
                " (no fact can have been recorded then)",
                position,
            )
        seen[fact.id] = position
        found.last_recorded = fact.recorded_at
        found.hashes.append(leaf)
    if len(remembered) > len(found.hashes):
        missing = len(found.hashes) + 1
        raise AuditFailure(
            f"position {missing}: the log holds {len(found.hashes)} facts but {len(remembered)} were verified before"
            " (facts were removed from the end)",
            missing,
        )
    return found


async def _remembered(db: Db, ledger: str) -> list[bytes]:
    """The leaves earlier verifications saw, in position order (checked like the facts: never a crash)."""
    try:
        async with db.execute(
            "SELECT position, leaf FROM audit_leaves WHERE ledger = ? ORDER BY position", (ledger,)
        ) as cursor:
            rows = await cursor.fetchall()
    except Exception as problem:  # noqa: BLE001 - a missing or damaged table is a finding, never a crash
        raise AuditFailure(f"the remembered leaves cannot be read ({short_problem(problem)})") from None
    leaves: list[bytes] = []
    for position, leaf in rows:
        expected = len(leaves) + 1
        if not isinstance(position, int) or position != expected:
            raise AuditFailure(f"position {expected}: the remembered leaves have a gap", expected)
        if not isinstance(leaf, bytes | memoryview) or len(bytes(leaf)) != 32:
            raise AuditFailure(f"position {expected}: the remembered leaf is not a 32-byte hash", expected)
        leaves.append(bytes(leaf))
    return leaves


async def _remember(db: Db, ledger: str, leaves: Sequence[bytes], known: int) -> None:
    if len(leaves) <= known:
        return
    await db.begin("audit_leaves")
    try:
        await db.executemany(
            "INSERT OR IGNORE INTO audit_leaves (ledger, position, leaf) VALUES (?, ?, ?)",
            [(ledger, position, leaf) for position, leaf in enumerate(leaves[known:], start=known + 1)],
        )
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


def check_extends(leaves: Sequence[bytes], expected: Head) -> None:
    """`AuditFailure` unless the tree of `leaves` extends `expected` (RFC 9162 consistency proof)."""
    size = len(leaves)
    if expected.size > size:
        raise AuditFailure(
            f"position {size + 1}: the log holds {size} facts but the expected head has {expected.size}"
            " (facts were removed from the end)",
            size + 1,
        )
    current = merkle.root(leaves)
    proof = merkle.consistency_proof(leaves, expected.size)
    try:
        merkle.verify_consistency(expected.size, size, expected.digest, current, proof)
    except ProofError:
        raise AuditFailure(
            f"the log does not extend the expected head {expected}: a fact at position {expected.size} or before"
            " was changed, removed or reordered since that head was taken"
        ) from None


async def verify(store: Store, expect: Head | Checkpoint | None = None, trusted: Verifier | None = None) -> Verified:
    """Verify the whole log (see the module's docstring); `AuditFailure` on the first problem.

    With a checkpoint, its origin must be this ledger's; with `trusted`, it must
    also carry a valid signature by that key. Each successful verification
    remembers the leaves it saw, so a later edit of a stored fact is named by
    position even without a kept head. The outcome is kept in the settings
    (`last_verification`): after a failure, every query warns until a verification passes.
    """
    try:
        verified = await _verify(store, expect, trusted)
    except AuditFailure as problem:
        await record_outcome(store, FACTS_CHECKED, problem)
        raise
    await record_outcome(store, FACTS_CHECKED, None)
    return verified


async def _verify(store: Store, expect: Head | Checkpoint | None, trusted: Verifier | None) -> Verified:
    name = await origin(store)
    signed_by: str | None = None
    if isinstance(expect, Checkpoint):
        if expect.origin != name:
            raise AuditFailure(f"the checkpoint is for ledger {expect.origin!r}, not this one ({name!r})")
        if trusted is not None:
            try:
                trusted.check(expect)
            except ProofError as problem:
                raise AuditFailure(str(problem)) from None
            signed_by = trusted.display
    elif trusted is not None:
        raise ValueError("a trusted key checks a signed checkpoint: give --expect with a checkpoint")
    remembered = await _remembered(store.write_db, name)
    leaves = (await _check_log(store, remembered)).hashes
    expected = expect.head if isinstance(expect, Checkpoint) else expect
    if expected is not None:
        check_extends(leaves, expected)
    await guards.check(store.write_db)
    await _remember(store.write_db, name, leaves, len(remembered))
    return Verified(Head.of(leaves), name, len(remembered), expected, signed_by)


async def checkpoint(store: Store) -> Checkpoint:
    """The verified current head as an unsigned checkpoint of this ledger."""
    verified = await verify(store)
    return Checkpoint(verified.origin, verified.head)
