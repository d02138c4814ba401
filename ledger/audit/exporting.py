"""`audit export`: the log as CloudEvents 1.0 JSON lines with the exact stored bytes, and
its signed head.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

from domain.audit import leaf_hash
from domain.errors import AuditFailure
from domain.facts import TOPIC_PREFIX, Fact, to_builtins
from domain.merkle import Checkpoint, Head
from domain.times import iso_utc
from ledger.compression import inflate
from ledger.store import Store

if TYPE_CHECKING:  # signing loads cryptography: only `audit verify --trusted-key` needs it
    pass
from ledger.audit.stored import decode_stored, source, stored_rows
from ledger.audit.verifying import Verified, verify

SEQUENCE_DIGITS: Final = 20
"""CloudEvents `sequence` is a lexicographically ordered string: positions are zero-padded."""
FACT_TYPE: Final = "org.exposure.fact.{kind}.v1"
HEAD_TYPE: Final = "org.exposure.head.v1"


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
    async for _rowid, _originator, position, topic, state in stored_rows(store):
        if position > verified.head.size:
            break  # appended after the verification: the next export will carry it
        fact = decode_stored(store, position, topic, state) if clear else None
        event = fact_event(src, position, topic, state, fact, encrypted=encrypted)
        leaves.append(bytes.fromhex(event["leafhash"]))
        last = fact.recorded_at if fact is not None else None
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    head = Head.of(leaves)
    if head != verified.head:
        raise AuditFailure("the log changed while it was exported; export again")
    out.write(json.dumps(head_event(src, verified.origin, head, last), separators=(",", ":")) + "\n")
    return head
