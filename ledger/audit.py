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

import base64
import contextlib
import itertools
import json
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import msgspec

from domain import merkle
from domain.audit import leaf_hash
from domain.errors import AuditFailure, LedgerError
from domain.facts import TOPIC_PREFIX, Fact, FactRetracted, incident_of, kind_of, to_builtins
from domain.merkle import Checkpoint, Head, ProofError
from domain.times import CLOCK_SKEW, from_micros, iso_utc
from ledger import guards, stored_events
from ledger import replay as replaying
from ledger.application import LEDGER_ID
from ledger.compression import inflate
from ledger.outcome import FACTS_CHECKED, PROJECTIONS_CHECKED, record_outcome
from ledger.store import Store
from projections import projector, queries
from projections.db import Db

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    from ledger.signing import Verifier

LATE_AFTER: Final = timedelta(days=7)
"""A fact recorded more than this after its `known_on` is a late entry."""
SEQUENCE_DIGITS: Final = 20
"""CloudEvents `sequence` is a lexicographically ordered string: positions are zero-padded."""
FACT_TYPE: Final = "org.exposure.fact.{kind}.v1"
HEAD_TYPE: Final = "org.exposure.head.v1"


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
    """(row id, originator id, version, topic, state) of every stored event, in row order.

    Read straight from the events table (`stored_events.rows`): every row whatever its
    row id, every value type-checked, never through the aggregate's version-ordered read,
    so that a row deleted, inserted, moved or retyped shows.
    """
    async for row in stored_events.rows(store.write_db):
        yield row.row, str(LEDGER_ID), row.version, row.topic, row.state


def _decode(store: Store, position: int, topic: str, state: bytes) -> Fact:
    try:
        fact = store.ledger.decode(state)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError) as problem:
        raise AuditFailure(
            f"position {position}: the stored fact does not decode ({_short(problem)})", position
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


def _short(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return (text[0] if text else type(problem).__name__)[:200]


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
        fact = _decode(store, position, row.topic, row.state)
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
        raise AuditFailure(f"the remembered leaves cannot be read ({_short(problem)})") from None
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


# -- replay -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replayed:
    """What a successful replay compared."""

    facts: int
    tables: list[replaying.TableDigest]
    answers: Answers | None = None


@dataclass(frozen=True)
class Answers:
    """What the one-by-one comparison of answers (`replay --answers`) compared."""

    knowledge_times: int
    recording_times: int
    incidents: int
    insurers: int
    members: int
    answers: int


async def replay(store: Store, *, answers: bool = False, progress: replaying.Progress | None = None) -> Replayed:
    """Rebuild every projection from the facts in a fresh SQLite file and compare it, table by table.

    The facts are verified first (a replay of facts that do not verify proves nothing).
    Every projection table, caches included, is compared in canonical order (`ledger.replay`);
    the first differing row is named. With `answers`, the answers of both sides are also
    compared one by one at every knowledge time and every append (slow: see `_compare`).
    The outcome is kept like a verification's (`last_verification`).
    """
    try:
        result = await _replay(store, answers=answers, progress=progress)
    except AuditFailure as problem:
        await record_outcome(store, PROJECTIONS_CHECKED, problem)
        raise
    await record_outcome(store, PROJECTIONS_CHECKED, None)
    return result


async def verify_projections(store: Store, progress: replaying.Progress | None = None) -> list[replaying.TableDigest]:
    """`verify --projections`: the table digests of `replay`, without the answers (the facts verified before)."""
    return (await replay(store, progress=progress)).tables


async def _replay(store: Store, *, answers: bool, progress: replaying.Progress | None) -> Replayed:
    verified = await verify(store)
    await store.catch_up()
    with tempfile.TemporaryDirectory(prefix="exposure-replay-") as folder:
        scratch = await store.scratch_db(Path(folder) / "replay.db")
        fresh = await replaying.fresh_projections(scratch, store.ledger, progress)
        try:
            stored_at = await projector.position(store.db)
            fresh_at = await projector.position(fresh)
            if stored_at[1] != verified.head.size or fresh_at[1] != verified.head.size:
                raise AuditFailure("the ledger grew during the replay; run the replay again")
            compared = await _compare(store.db, fresh) if answers else None  # first: it names the answer
            await replaying.fill_caches(store.db, fresh)
            tables = await replaying.compare(store.db, fresh, progress)
        finally:
            await fresh.close()
    return Replayed(verified.head.size, tables, compared)


async def _compare(stored: Db, fresh: Db) -> Answers:
    """Compare the answers of both sides at every knowledge time and every append (`replay --answers`).

    Horizons: "as known on X" at every distinct `known_on` in the log (as recorded
    now), and "as known on Y, as recorded at Y" at every append's `recorded_at`
    (what the ledger could answer then). At each: `summary` of every incident,
    `insurer` of every (incident, insurer), and the status, attributes, fields and
    deciding facts of every enrolled member in every incident. Deterministic: every
    horizon is an explicit instant, never the wall clock.
    """
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
        h_stored = await queries.horizon(stored, as_known_on, as_recorded_at)
        h_fresh = await queries.horizon(fresh, as_known_on, as_recorded_at)
        _same(f"the facts visible {label}", (h_stored.position, h_stored.hidden), (h_fresh.position, h_fresh.hidden))
        for incident in incidents:
            _same(
                f"summary of {incident} {label}",
                await _answer(queries.summary(stored, incident, h_stored)),
                await _answer(queries.summary(fresh, incident, h_fresh)),
            )
            answers += 1
            for insurer in insurers:
                _same(
                    f"insurer {insurer} in {incident} {label}",
                    await _answer(queries.insurer(stored, incident, insurer, h_stored)),
                    await _answer(queries.insurer(fresh, incident, insurer, h_fresh)),
                )
                answers += 1
            answers += await _same_members(stored, fresh, incident, h_stored, h_fresh, label)
    return Answers(len(known), len(recorded), len(incidents), len(insurers), members, answers)


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


async def _member_pages(db: Db, incident: str, h: queries.Horizon) -> AsyncGenerator[list[tuple[Any, ...]]]:
    """Every enrolled member's answer in `incident` at `h` (see MEMBER_COLUMNS), in pages, by insurer and ref."""
    view = await queries.incident_view(db, incident, h)
    params = {"incident": incident, "scopes": queries.scopes_json(view), **h.params()}
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
    """Compare every member's answer, page by page; the number compared.

    Both readers are closed whatever happens (`aclosing`): a difference raised while they
    hold an open cursor must not leave a generator for the event loop to finalise noisily.
    """
    async with (
        contextlib.aclosing(_member_pages(stored, incident, h_stored)) as mine,
        contextlib.aclosing(_member_pages(fresh, incident, h_fresh)) as theirs,
    ):
        a: list[tuple[Any, ...]] = []
        b: list[tuple[Any, ...]] = []
        count = 0
        while True:
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


def fact_event(
    src: str, position: int, topic: str, state: bytes, fact: Fact | None, *, encrypted: bool
) -> dict[str, Any]:
    """One fact as a CloudEvents 1.0 structured-mode event (a JSON object).

    Every attribute is bound to the leaf hash: `sequence`, `storedtopic` and `storedbytes`
    are what it hashes, `type` is the topic's kind; on a plain store `data` is exactly the
    JSON of the stored bytes (inflated when deflated: `ledger.compression`) and `id`,
    `time`, `recordedat`, `knownon` are its fields. On an
    encrypted store the fact is inside the ciphertext: without `fact` (no `--decrypt`) the
    line carries no clear `data` and no fact times, and its `id` is the leaf hash; with it,
    the decrypted fields are there, marked `encrypted` (a verifier without the key cannot
    check them against the ciphertext, and says so).
    """
    leaf = leaf_hash(position, topic, state)
    kind = topic.removeprefix(TOPIC_PREFIX)
    event: dict[str, Any] = {"specversion": "1.0", "id": leaf if fact is None else fact.id, "source": src}
    event["type"] = FACT_TYPE.format(kind=kind)
    if fact is not None:
        if fact.recorded_at is None:  # pragma: no cover - verified before export
            raise AuditFailure(f"position {position}: the fact has no recorded_at", position)
        event["time"] = iso_utc(fact.occurred_on)
        event["datacontenttype"] = "application/json"
        event["recordedat"] = iso_utc(fact.recorded_at)
        event["knownon"] = iso_utc(fact.known_on)
    event["sequence"] = str(position).zfill(SEQUENCE_DIGITS)
    event["storedtopic"] = topic
    event["leafhash"] = leaf
    event["storedbytes"] = base64.b64encode(state).decode("ascii")
    if encrypted:
        event["encrypted"] = True
    if fact is not None:
        event["data"] = to_builtins(fact) if encrypted else json.loads(inflate(state))
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


async def export(store: Store, out: TextIO, *, decrypt: bool = False) -> Head:
    """Verify the log, then write it to `out` as CloudEvents JSON lines; return its head.

    On an encrypted store the facts stay encrypted unless `decrypt` (see `fact_event`).
    The CLI writes a FILE through `cli.outputs`: the file appears complete or not at all.
    """
    verified = await verify(store)
    src = await source(store)
    encrypted = store.encrypted
    clear = decrypt or not encrypted
    return await _write_export(store, out, src, verified, encrypted=encrypted, clear=clear)


async def _write_export(
    store: Store, out: TextIO, src: str, verified: Verified, *, encrypted: bool, clear: bool
) -> Head:
    leaves: list[bytes] = []
    last: datetime | None = None
    async for _rowid, _originator, position, topic, state in _rows(store):
        if position > verified.head.size:
            break  # appended after the verification: the next export will carry it
        fact = _decode(store, position, topic, state) if clear else None
        event = fact_event(src, position, topic, state, fact, encrypted=encrypted)
        leaves.append(bytes.fromhex(event["leafhash"]))
        last = fact.recorded_at if fact is not None else None
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
