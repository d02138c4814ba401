"""Verify an `exposure audit export` file with the Python standard library alone.

This file imports nothing from the exposure project: it is what an auditor
would write from docs/AUDIT.md. Usage:

    python independent_verifier.py EXPORT.jsonl [--expect SIZE:ROOTHEX]

It recomputes every leaf hash from the exact stored bytes, checks the order and
the times, recomputes the RFC 6962 root with the recursive definition of the
RFC, and compares it with the head on the last line (and with a head the
auditor kept, if given). Exit 0 and one `OK` line, or exit 3 and one `FAIL`
line naming the first bad line.

Every attribute a line carries is bound to its leaf hash or refused: an attribute
this verifier does not know, or a JSON object with a key twice, is an error. Whether a
fact is in clear is read from the hashed bytes themselves (they are the fact's JSON, or
they are not), never from the line's `encrypted` flag; `data` and the fact's times must
then be exactly what the bytes say. An encrypted fact's clear `data` (`--decrypt`) cannot
be checked without the key: the `OK` line says how many lines carry such data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import zlib
from datetime import datetime
from typing import Any

FACT_PREFIX = "org.exposure.fact."
HEAD_TYPE = "org.exposure.head.v1"
TOPIC_PREFIX = "exposure:"


class Invalid(Exception):
    """The export does not verify."""


def leaf_hash(position: int, topic: str, stored: bytes) -> bytes:
    """SHA-256(0x00 || position as 8 bytes big-endian || SHA-256(topic) || stored bytes)."""
    return hashlib.sha256(
        b"\x00" + position.to_bytes(8, "big") + hashlib.sha256(topic.encode("utf-8")).digest() + stored
    ).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, written as the RFC writes it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


FACT_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "recordedat",
        "knownon",
        "sequence",
        "storedtopic",
        "leafhash",
        "storedbytes",
        "encrypted",
        "data",
    }
)
HEAD_ATTRIBUTES = frozenset({"specversion", "id", "source", "type", "time", "datacontenttype", "data"})
HEAD_DATA = frozenset({"origin", "size", "root", "checkpoint"})
FACT_TIMES = (("recordedat", "recorded_at"), ("knownon", "known_on"), ("time", "occurred_on"))


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key appears twice (json.loads would keep the last one)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise Invalid(f"key {key!r} appears twice in one object")
        found[key] = value
    return found


def no_constants(name: str) -> Any:
    raise Invalid(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it: no duplicate keys, no NaN or Infinity."""
    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)


def canonical(value: Any) -> str:
    """One spelling per JSON value: `true` and `1`, or `1` and `1.0`, are different values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def instant(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise Invalid(f"{what} is not a timestamp")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{what} {text!r} is not RFC 3339") from None
    if moment.tzinfo is None:
        raise Invalid(f"{what} {text!r} has no offset")
    return moment


def clear_fact(stored: bytes, topic: str) -> dict[str, Any] | None:
    """The fact the stored bytes hold in clear, or None when they are not a fact's JSON (ciphertext).
    Large facts are stored deflated: a zlib stream (first byte 0x78; JSON starts with `{`)."""
    if stored.startswith(b"\x78"):
        try:
            stored = zlib.decompress(stored)
        except zlib.error:
            return None
    try:
        fact = strict_json(stored.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(fact, dict) or fact.get("kind") != topic.removeprefix(TOPIC_PREFIX):
        raise Invalid("the stored bytes are JSON but not the fact the stored topic names")
    return fact


def check_fact(
    event: dict[str, Any], position: int, source: str, previous: datetime | None, seen: set[str]
) -> tuple[bytes, datetime | None, bool]:
    """(leaf hash, recorded at, whether its data is unchecked) of one fact line, after checking it
    against itself and the line before."""
    unknown = sorted(set(event) - FACT_ATTRIBUTES)
    if unknown:
        raise Invalid(f"attribute {unknown[0]!r} is not bound to the leaf hash")
    if event.get("specversion") != "1.0":
        raise Invalid("specversion is not 1.0")
    if event.get("source") != source:
        raise Invalid("source differs from the head's")
    if event.get("sequence") != str(position).zfill(20):
        raise Invalid(f"sequence {event.get('sequence')!r} where position {position} was expected")
    topic = event.get("storedtopic")
    if not isinstance(topic, str) or not topic.startswith(TOPIC_PREFIX):
        raise Invalid("storedtopic is missing")
    if event.get("type") != f"{FACT_PREFIX}{topic.removeprefix(TOPIC_PREFIX)}.v1":
        raise Invalid(f"type {event.get('type')!r} does not match the stored topic {topic!r}")
    stored_text = event.get("storedbytes")
    if not isinstance(stored_text, str):
        raise Invalid("storedbytes is missing")
    try:
        stored = base64.b64decode(stored_text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("storedbytes is not base64") from None
    leaf = leaf_hash(position, topic, stored)
    if event.get("leafhash") != leaf.hex():
        raise Invalid("leafhash is not the hash of the stored bytes")
    fact = clear_fact(stored, topic)
    flag = event.get("encrypted", False)
    if flag not in (True, False):
        raise Invalid("encrypted is not true or false")
    if fact is not None and flag:
        raise Invalid("the line says encrypted, but the stored bytes are the fact in clear")
    if fact is None and not flag:
        raise Invalid("the stored bytes are not JSON (and the line does not say encrypted)")
    if fact is None and "data" not in event:  # ciphertext only: nothing in clear to check
        for attribute, _key in FACT_TIMES:
            if attribute in event:
                raise Invalid(f"{attribute} is given in clear for an encrypted fact without its data")
        if event.get("id") != leaf.hex():
            raise Invalid("the id of an encrypted fact without data is its leaf hash")
        return leaf, None, False
    data = event.get("data")
    if not isinstance(data, dict):
        raise Invalid("data is not an object")
    if event.get("datacontenttype") != "application/json":
        raise Invalid("datacontenttype is not application/json")
    if fact is not None and canonical(fact) != canonical(data):
        raise Invalid("data differs from the stored bytes")
    if event.get("id") != data.get("id"):
        raise Invalid("id differs from the fact's id")
    if data.get("kind") != topic.removeprefix(TOPIC_PREFIX):
        raise Invalid("data's kind differs from the stored topic")
    for attribute, key in FACT_TIMES:
        if instant(event.get(attribute), attribute) != instant(data.get(key), key):
            raise Invalid(f"{attribute} differs from the fact's {key}")
    recorded = instant(event.get("recordedat"), "recordedat")
    if previous is not None and recorded <= previous:
        raise Invalid("recordedat is not after the previous line's")
    if event["id"] in seen:
        raise Invalid(f"fact id {event['id']!r} appears twice")
    return leaf, recorded, fact is None


def check_head(head: dict[str, Any], leaves: list[bytes], last: datetime | None) -> tuple[int, str]:
    """The head line names the origin, size and root of the facts above it, and nothing else."""
    unknown = sorted(set(head) - HEAD_ATTRIBUTES)
    if unknown:
        raise Invalid(f"attribute {unknown[0]!r} is not bound to the head")
    data = head.get("data")
    if not isinstance(data, dict):
        raise Invalid("the head has no data")
    unknown = sorted(set(data) - HEAD_DATA)
    if unknown:
        raise Invalid(f"the head's data key {unknown[0]!r} is not bound to the head")
    root = mth(leaves).hex()
    size = data.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size != len(leaves):
        raise Invalid(f"the head counts {size} facts, the file holds {len(leaves)}")
    if data.get("root") != root:
        raise Invalid("the head's root is not the root of the facts above it")
    origin = data.get("origin")
    if not isinstance(origin, str) or not origin.startswith("exposure.ledger/"):
        raise Invalid("the head's origin is not an exposure ledger")
    if head.get("source") != "urn:exposure:ledger:" + origin.removeprefix("exposure.ledger/"):
        raise Invalid("the head's source is not its origin's")
    b64root = base64.b64encode(bytes.fromhex(root)).decode("ascii")
    if data.get("checkpoint") != f"{origin}\n{len(leaves)}\n{b64root}\n":
        raise Invalid("the head's checkpoint does not name this origin, size and root")
    if head.get("id") != f"head-{len(leaves)}" or head.get("specversion") != "1.0":
        raise Invalid("the head's id or specversion is wrong")
    if "time" in head and (last is None or instant(head["time"], "time") != last):
        raise Invalid("the head's time is not the last fact's recordedat")
    return len(leaves), root


def verify(lines: list[str], expect: tuple[int, str] | None = None) -> tuple[int, str, int]:
    """(size, root hex, lines whose clear data is unchecked) of a valid export; `Invalid` naming the first bad line."""
    if not lines:
        raise Invalid("line 1: the file is empty (the head line is missing)")
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            event = strict_json(line)
        except json.JSONDecodeError:
            raise Invalid(f"line {number}: not JSON") from None
        except Invalid as problem:
            raise Invalid(f"line {number}: {problem}") from None
        if not isinstance(event, dict):
            raise Invalid(f"line {number}: not a JSON object")
        events.append(event)
    *facts, head = events
    if head.get("type") != HEAD_TYPE:
        raise Invalid(f"line {len(lines)}: the last line is not the head (the export was cut short)")
    source = str(head.get("source"))
    leaves: list[bytes] = []
    previous: datetime | None = None
    seen: set[str] = set()
    unchecked = 0
    for position, event in enumerate(facts, start=1):
        try:
            leaf, recorded, opaque = check_fact(event, position, source, previous, seen)
        except Invalid as problem:
            raise Invalid(f"line {position}: {problem}") from None
        leaves.append(leaf)
        previous = recorded or previous
        unchecked += opaque
        seen.add(event["id"])
    try:
        size, root = check_head(head, leaves, previous)
    except Invalid as problem:
        raise Invalid(f"line {len(lines)}: {problem}") from None
    if expect is not None:
        kept_size, kept_root = expect
        if kept_size > len(leaves):
            raise Invalid(f"line {len(lines)}: the kept head has {kept_size} facts, the file only {len(leaves)}")
        if mth(leaves[:kept_size]).hex() != kept_root.lower():
            raise Invalid(f"the first {kept_size} facts do not have the kept head's root")
    return size, root, unchecked


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--expect"):
        sys.stderr.write("usage: independent_verifier.py EXPORT.jsonl [--expect SIZE:ROOTHEX]\n")
        return 2
    expect = None
    if len(argv) == 4:
        size, _, root = argv[3].partition(":")
        if not (size.isascii() and size.isdigit()):
            sys.stderr.write("usage: --expect SIZE:ROOTHEX (SIZE in ASCII digits)\n")
            return 2
        expect = (int(size), root)
    with open(argv[1], encoding="utf-8") as handle:  # noqa: PTH123 - this file keeps to the plainest standard library
        lines = [line for line in handle.read().split("\n") if line]
    try:
        size, root, unchecked = verify(lines, expect)
    except Invalid as problem:
        sys.stderr.write(f"FAIL: {problem}\n")
        return 3
    note = (
        f" ({unchecked} encrypted facts carry decrypted data that cannot be checked without the key)"
        if unchecked
        else ""
    )
    sys.stdout.write(f"OK: {size} facts, root {root}{note}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
