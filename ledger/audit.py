"""Audit: verify the stored facts, replay the projections, export a verifiable log.

- `verify` reads eventsourcing's events table row by row in append order (on
  SQLite `stored_events` by rowid, through the recorder's notification query,
  never through the version-ordered aggregate read) and checks every row: one sequence, positions 1..N dense, every fact
  decodes, ids unique, `recorded_at` strictly increasing. It recomputes every
  leaf hash from the exact stored bytes (`domain.audit.leaf_hash`), compares them
  with the leaves remembered by earlier verifications (`audit_leaves`) and builds
  the RFC 6962 tree. Given a head kept from earlier (`expect`), it proves with an
  RFC 9162 consistency proof that today's log extends it: the only check that a
  forger who rewrote facts *and* every stored hash cannot pass.
- `replay` rebuilds every projection from the facts alone in a fresh temporary
  SQLite file with the same projector code and compares the answers with the
  stored projections at every knowledge time and every append in the log.
- `export` writes the log as CloudEvents 1.0 JSON lines with the exact stored
  bytes, so that an auditor can recompute every leaf and the root without us.
- The append-only guards on the facts and on `audit_leaves` are in `ledger.guards`.

`docs/AUDIT.md` describes the algorithms and the auditor's procedure.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

import msgspec

from domain import merkle
from domain.audit import leaf_hash
from domain.errors import LedgerError
from domain.facts import TOPIC_PREFIX, Fact, FactRetracted, incident_of, kind_of, to_builtins
from domain.merkle import Checkpoint, Head, ProofError
from domain.times import from_micros, iso_utc
from ledger.application import LEDGER_ID
from ledger.signing import Verifier
from ledger.store import Store
from projections import projector, queries
from projections.db import Db

LATE_AFTER: Final = timedelta(days=7)
"""A fact recorded more than this after its `known_on` is a late entry."""
SEQUENCE_DIGITS: Final = 20
"""CloudEvents `sequence` is a lexicographically ordered string: positions are zero-padded."""
FACT_TYPE: Final = "org.exposure.fact.{kind}.v1"
HEAD_TYPE: Final = "org.exposure.head.v1"


class AuditFailure(Exception):
    """The ledger failed verification or replay; `position` is the first bad one, if known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


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


async def _rows(store: Store) -> AsyncIterator[tuple[int, str, int, str, bytes]]:
    """(notification id, originator id, version, topic, state) of every stored event, in append order.

    Read straight from the events table through eventsourcing's recorder (on SQLite:
    `SELECT rowid, * FROM stored_events ... ORDER BY rowid`), not through the
    aggregate's version-ordered read: a row deleted, inserted or moved shows.
    """
    start = 1
    while True:
        notes = store.ledger.notifications(start=start, limit=256)
        if not notes:
            return
        for note in notes:
            yield (
                int(note.id),
                str(note.originator_id),
                int(note.originator_version),
                str(note.topic),
                bytes(note.state),
            )
        start = int(notes[-1].id) + 1


def _decode(store: Store, position: int, topic: str, state: bytes) -> Fact:
    try:
        fact = store.ledger.decode(state)
    except (msgspec.DecodeError, ValueError, TypeError) as problem:
        raise AuditFailure(f"position {position}: the stored fact does not decode ({problem})", position) from None
    except Exception as problem:  # noqa: BLE001 - a cipher's own error (e.g. a bad tag) is a bad fact, never a crash
        raise AuditFailure(
            f"position {position}: the stored fact does not decrypt ({type(problem).__name__})", position
        ) from None
    if not isinstance(fact, Fact):  # pragma: no cover - the decoder only returns facts
        raise AuditFailure(f"position {position}: not a fact", position)
    if topic != TOPIC_PREFIX + kind_of(fact):
        raise AuditFailure(f"position {position}: stored topic {topic!r} but the fact is a {kind_of(fact)!r}", position)
    return fact


async def _check_log(store: Store, remembered: Sequence[bytes] = ()) -> _Leaves:
    """Every check on the stored rows, position by position; the leaf hashes in order.

    `remembered` are the leaves earlier verifications saw: a different leaf at one
    of those positions is a fact changed since.
    """
    found = _Leaves()
    seen: dict[str, int] = {}
    ledger_hex = LEDGER_ID.hex
    async for rowid, originator, version, topic, state in _rows(store):
        position = len(found.hashes) + 1
        if originator.replace("-", "") != ledger_hex:
            raise AuditFailure(
                f"position {position}: stored row {rowid} belongs to sequence {originator}, not the ledger's", position
            )
        if version != position:
            raise AuditFailure(
                f"position {position}: the row appended there holds position {version}"
                " (a fact was deleted, inserted or moved)",
                position,
            )
        leaf = bytes.fromhex(leaf_hash(position, topic, state))
        if position <= len(remembered) and remembered[position - 1] != leaf:
            raise AuditFailure(
                f"position {position}: the stored fact changed since it was verified"
                f" (leaf was {remembered[position - 1].hex()}, now {leaf.hex()})",
                position,
            )
        if not store.can_decode:  # payloads encrypted, no key file: the positions and hashes alone
            found.hashes.append(leaf)
            continue
        fact = _decode(store, position, topic, state)
        if fact.recorded_at is None:
            raise AuditFailure(f"position {position}: the fact has no recorded_at", position)
        if fact.id in seen:
            raise AuditFailure(
                f"position {position}: fact id {fact.id!r} was already recorded at position {seen[fact.id]}", position
            )
        if found.last_recorded is not None and fact.recorded_at <= found.last_recorded:
            raise AuditFailure(
                f"position {position}: recorded_at {iso_utc(fact.recorded_at)} is not after the previous fact's"
                f" {iso_utc(found.last_recorded)} (facts were reordered or back-dated)",
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
    async with db.execute(
        "SELECT position, leaf FROM audit_leaves WHERE ledger = ? ORDER BY position", (ledger,)
    ) as cursor:
        rows = await cursor.fetchall()
    leaves: list[bytes] = []
    for position, leaf in rows:
        if int(position) != len(leaves) + 1:
            raise AuditFailure(f"position {len(leaves) + 1}: the remembered leaves have a gap", len(leaves) + 1)
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
    position even without a kept head.
    """
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
            signed_by = trusted.name
    elif trusted is not None:
        raise AuditFailure("a trusted key checks a signed checkpoint: give --expect with a checkpoint")
    remembered = await _remembered(store.write_db, name)
    leaves = (await _check_log(store, remembered)).hashes
    expected = expect.head if isinstance(expect, Checkpoint) else expect
    if expected is not None:
        check_extends(leaves, expected)
    await _remember(store.write_db, name, leaves, len(remembered))
    return Verified(Head.of(leaves), name, len(remembered), expected, signed_by)


async def checkpoint(store: Store) -> Checkpoint:
    """The verified current head as an unsigned checkpoint of this ledger."""
    verified = await verify(store)
    return Checkpoint(verified.origin, verified.head)


# -- replay -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replayed:
    """What a successful replay compared."""

    facts: int
    knowledge_times: int
    recording_times: int
    incidents: int
    insurers: int
    members: int
    answers: int


async def replay(store: Store) -> Replayed:
    """Rebuild every projection from the facts in a fresh SQLite file and compare answers.

    Horizons: "as known on X" at every distinct `known_on` in the log (as recorded
    now), and "as known on Y, as recorded at Y" at every append's `recorded_at`
    (what the ledger could answer then). At each: `summary` of every incident,
    `insurer` of every (incident, insurer), and the status, attributes, fields and
    deciding facts of every enrolled member in every incident. Deterministic: every
    horizon is an explicit instant, never the wall clock.
    """
    await verify(store)  # a replay of facts that do not verify would prove nothing
    await store.catch_up()
    with tempfile.TemporaryDirectory(prefix="exposure-replay-") as folder:
        fresh = await store.scratch_db(Path(folder) / "replay.db")
        try:
            await fresh.execute("PRAGMA journal_mode = OFF")
            await fresh.execute("PRAGMA synchronous = OFF")
            await projector.create_tables(fresh)
            await projector.catch_up(fresh, store.ledger)
            return await _compare(store.db, fresh)
        finally:
            await fresh.close()


async def _compare(stored: Db, fresh: Db) -> Replayed:
    async with fresh.execute("SELECT known_us, recorded_us FROM facts ORDER BY pos") as cursor:
        times = [(int(k), int(r)) for k, r in await cursor.fetchall()]
    known = sorted({k for k, _ in times})
    recorded = [r for _, r in times]
    incidents = await queries.incidents(fresh)
    marks = ", ".join(f"'{k}'" for k in queries.NAMING_KINDS)
    async with fresh.execute(
        f"SELECT DISTINCT insurer FROM facts WHERE kind IN ({marks}) AND insurer IS NOT NULL ORDER BY insurer"
    ) as cursor:
        insurers = [str(r[0]) for r in await cursor.fetchall()]
    async with fresh.execute("SELECT COUNT(DISTINCT insurer || char(0) || ref) FROM member_versions") as cursor:
        row = await cursor.fetchone()
    members = int(row[0]) if row else 0
    horizons = [(from_micros(k), None) for k in known] + [(from_micros(r), from_micros(r)) for r in recorded]
    answers = 0
    for as_known_on, as_recorded_at in horizons:
        label = f"as known on {iso_utc(as_known_on)}" + (
            f", as recorded at {iso_utc(as_recorded_at)}" if as_recorded_at else ""
        )
        h_stored, h_fresh = await asyncio.gather(
            queries.horizon(stored, as_known_on, as_recorded_at), queries.horizon(fresh, as_known_on, as_recorded_at)
        )
        _same(f"the facts visible {label}", (h_stored.position, h_stored.hidden), (h_fresh.position, h_fresh.hidden))
        for incident in incidents:
            _same(
                f"summary of {incident} {label}",
                *await asyncio.gather(
                    _answer(queries.summary(stored, incident, h_stored)),
                    _answer(queries.summary(fresh, incident, h_fresh)),
                ),
            )
            answers += 1
            for insurer in insurers:
                _same(
                    f"insurer {insurer} in {incident} {label}",
                    *await asyncio.gather(
                        _answer(queries.insurer(stored, incident, insurer, h_stored)),
                        _answer(queries.insurer(fresh, incident, insurer, h_fresh)),
                    ),
                )
                answers += 1
            answers += await _same_members(stored, fresh, incident, h_stored, h_fresh, label)
    return Replayed(len(times), len(known), len(recorded), len(incidents), len(insurers), members, answers)


async def _answer(pending: Any) -> Any:
    """A query's answer, or the rejection it gives (both must agree)."""
    try:
        return await pending
    except LedgerError as problem:
        return {"rejected": str(problem)}


MEMBER_COLUMNS: Final = (
    "insurer",
    "ref",
    "role",
    "contract",
    "from",
    "until",
    "nir",
    "enrolled_by",
    "finding",
    "status",
    "fields",
)


async def _member_pages(db: Db, incident: str, h: queries.Horizon) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Every enrolled member's answer in `incident` at `h` (see MEMBER_COLUMNS), in pages, by insurer and ref."""
    view = await queries.incident_view(db, incident, h)
    params = {"incident": incident, "scopes": queries._scopes_json(view), **h.params()}
    fields: dict[str, tuple[str, ...]] = {}
    sql = (
        "SELECT insurer, ref, role, contract, from_day, until_day, nir, enrolled_pos, finding_pos, status"
        f" FROM ({queries.member_status_sql('1 = 1')}) AS m ORDER BY insurer, ref"
    )
    async with db.execute(sql, params) as cursor:
        while True:
            page = await cursor.fetchmany(2048)
            if not page:
                return
            rows = []
            for row in page:
                insurer, status = row[0], row[9]
                if insurer not in fields:
                    fields[insurer] = tuple(view.exposed_fields(insurer))
                rows.append((*row, fields[insurer] if status in queries.AFFECTED else ()))
            yield rows


async def _same_members(
    stored: Db,
    fresh: Db,
    incident: str,
    h_stored: queries.Horizon,
    h_fresh: queries.Horizon,
    label: str,
) -> int:
    """Compare every member's answer, page by page; the number compared."""
    mine = _member_pages(stored, incident, h_stored)
    theirs = _member_pages(fresh, incident, h_fresh)
    a: list[tuple[Any, ...]] = []
    b: list[tuple[Any, ...]] = []
    count = 0
    while True:
        if not a and not b:
            a, b = await asyncio.gather(anext(mine, []), anext(theirs, []))
        a = a or await anext(mine, [])
        b = b or await anext(theirs, [])
        if not a and not b:
            return count
        n = min(len(a), len(b))
        if a[:n] != b[:n] or n == 0:
            _first_member_difference(a, b, incident, label)
        count += n
        a, b = a[n:], b[n:]


def _first_member_difference(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], incident: str, label: str) -> None:
    for x, y in itertools.zip_longest(a, b):
        if x == y:
            continue
        if x is None or (y is not None and x[:2] > y[:2]):
            raise AuditFailure(f"replay differs: member {y[0]}/{y[1]} in {incident} {label} is only in the replay")
        if y is None or x[:2] < y[:2]:
            raise AuditFailure(
                f"replay differs: member {x[0]}/{x[1]} in {incident} {label} is only in the stored projections"
            )
        _same(
            f"member {x[0]}/{x[1]} in {incident} {label}",
            dict(zip(MEMBER_COLUMNS, x, strict=True)),
            dict(zip(MEMBER_COLUMNS, y, strict=True)),
        )


def _same(what: str, stored: Any, replayed: Any) -> None:
    if stored == replayed:
        return
    difference = _first_difference(stored, replayed)
    if difference is not None:
        path, a, b = difference
        at = f" at {path}" if path else ""
        raise AuditFailure(
            f"replay differs: {what}{at}: stored {json.dumps(a, default=str)}, replayed {json.dumps(b, default=str)}"
        )


def _first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return (f"{path}.{key}".lstrip("."), a.get(key), b.get(key))
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return (found[0].lstrip("."), found[1], found[2])
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else (path, a, b)


# -- export -----------------------------------------------------------------------------


def fact_event(src: str, position: int, topic: str, state: bytes, fact: Fact, *, encrypted: bool) -> dict[str, Any]:
    """One fact as a CloudEvents 1.0 structured-mode event (a JSON object)."""
    if fact.recorded_at is None:  # pragma: no cover - verified before export
        raise AuditFailure(f"position {position}: the fact has no recorded_at", position)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": fact.id,
        "source": src,
        "type": FACT_TYPE.format(kind=kind_of(fact)),
        "time": iso_utc(fact.occurred_on),
        "datacontenttype": "application/json",
        "recordedat": iso_utc(fact.recorded_at),
        "knownon": iso_utc(fact.known_on),
        "sequence": str(position).zfill(SEQUENCE_DIGITS),
        "storedtopic": topic,
        "leafhash": leaf_hash(position, topic, state),
        "storedbytes": base64.b64encode(state).decode("ascii"),
    }
    if encrypted:
        event["encrypted"] = True
    event["data"] = to_builtins(fact)
    return event


def head_event(src: str, name: str, head: Head, last_recorded: datetime | None) -> dict[str, Any]:
    """The closing line of an export: the tree head of every fact above it."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"head-{head.size}",
        "source": src,
        "type": HEAD_TYPE,
    }
    if last_recorded is not None:
        event["time"] = iso_utc(last_recorded)
    event["datacontenttype"] = "application/json"
    event["data"] = {
        "origin": name,
        "size": head.size,
        "root": head.root,
        "checkpoint": Checkpoint(name, head).body,
    }
    return event


async def export(store: Store, path: str) -> Head:
    """Write the verified log to `path` (or `-` for stdout) as CloudEvents JSON lines; return its head.

    The file appears complete or not at all (written aside, then renamed).
    """
    verified = await verify(store)
    src = await source(store)
    encrypted = store.encrypted
    if path == "-":
        return await _write_export(store, sys.stdout, src, verified, encrypted=encrypted)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            head = await _write_export(store, handle, src, verified, encrypted=encrypted)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return head


async def _write_export(store: Store, out: TextIO, src: str, verified: Verified, *, encrypted: bool) -> Head:
    leaves: list[bytes] = []
    last: datetime | None = None
    async for _rowid, _originator, position, topic, state in _rows(store):
        if position > verified.head.size:
            break  # appended after the verification: the next export will carry it
        fact = _decode(store, position, topic, state)
        event = fact_event(src, position, topic, state, fact, encrypted=encrypted)
        leaves.append(bytes.fromhex(event["leafhash"]))
        last = fact.recorded_at
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    head = Head.of(leaves)
    if head != verified.head:
        raise AuditFailure("the log changed while it was exported; export again")
    out.write(json.dumps(head_event(src, verified.origin, head, last), separators=(",", ":")) + "\n")
    return head


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
    async for _rowid, _originator, position, topic, state in _rows(store):
        fact = _decode(store, position, topic, state)
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
