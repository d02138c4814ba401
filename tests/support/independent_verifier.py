"""Verify an `exposure audit export` file with the Python standard library alone.

This file imports nothing from the exposure project: it is what an auditor
would write from docs/AUDIT.md. Usage:

    python independent_verifier.py EXPORT.jsonl [--expect SIZE:ROOTHEX]

It recomputes every leaf hash from the exact stored bytes, checks the order and
the times, recomputes the RFC 6962 root with the recursive definition of the
RFC, and compares it with the head on the last line (and with a head the
auditor kept, if given). Exit 0 and one `OK` line, or exit 3 and one `FAIL`
line naming the first bad line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
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


def check_fact(
    event: dict[str, Any], position: int, source: str, previous: datetime | None, seen: set[str]
) -> tuple[bytes, datetime]:
    """(leaf hash, recorded at) of one fact line, after checking it against itself and the line before."""
    if event.get("specversion") != "1.0":
        raise Invalid("specversion is not 1.0")
    if event.get("source") != source:
        raise Invalid("source differs from the first line's")
    if event.get("sequence") != str(position).zfill(20):
        raise Invalid(f"sequence {event.get('sequence')!r} where position {position} was expected")
    topic = event.get("storedtopic")
    if not isinstance(topic, str) or not topic.startswith(TOPIC_PREFIX):
        raise Invalid("storedtopic is missing")
    if event.get("type") != f"{FACT_PREFIX}{topic.removeprefix(TOPIC_PREFIX)}.v1":
        raise Invalid(f"type {event.get('type')!r} does not match the stored topic {topic!r}")
    try:
        stored = base64.b64decode(event.get("storedbytes", ""), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("storedbytes is not base64") from None
    leaf = leaf_hash(position, topic, stored)
    if event.get("leafhash") != leaf.hex():
        raise Invalid("leafhash is not the hash of the stored bytes")
    data = event.get("data")
    if not isinstance(data, dict):
        raise Invalid("data is not an object")
    if not event.get("encrypted"):
        try:
            original = json.loads(stored)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Invalid("the stored bytes are not JSON (and the line does not say encrypted)") from None
        if original != data:
            raise Invalid("data differs from the stored bytes")
    if event.get("id") != data.get("id"):
        raise Invalid("id differs from the fact's id")
    for attribute, key in (("recordedat", "recorded_at"), ("knownon", "known_on"), ("time", "occurred_on")):
        if instant(event.get(attribute), attribute) != instant(data.get(key), key):
            raise Invalid(f"{attribute} differs from the fact's {key}")
    recorded = instant(event.get("recordedat"), "recordedat")
    if previous is not None and recorded <= previous:
        raise Invalid("recordedat is not after the previous line's")
    if event["id"] in seen:
        raise Invalid(f"fact id {event['id']!r} appears twice")
    return leaf, recorded


def verify(lines: list[str], expect: tuple[int, str] | None = None) -> tuple[int, str]:
    """(size, root hex) of a valid export; `Invalid` naming the first bad line otherwise."""
    if not lines:
        raise Invalid("line 1: the file is empty (the head line is missing)")
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise Invalid(f"line {number}: not JSON") from None
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
    for position, event in enumerate(facts, start=1):
        try:
            leaf, previous = check_fact(event, position, source, previous, seen)
        except Invalid as problem:
            raise Invalid(f"line {position}: {problem}") from None
        leaves.append(leaf)
        seen.add(event["id"])
    data = head.get("data")
    if not isinstance(data, dict):
        raise Invalid(f"line {len(lines)}: the head has no data")
    root = mth(leaves).hex()
    if data.get("size") != len(leaves):
        raise Invalid(f"line {len(lines)}: the head counts {data.get('size')} facts, the file holds {len(leaves)}")
    if data.get("root") != root:
        raise Invalid(f"line {len(lines)}: the head's root is not the root of the facts above it")
    checkpoint = str(data.get("checkpoint", "")).split("\n")
    if (
        len(checkpoint) < 3
        or checkpoint[1] != str(len(leaves))
        or checkpoint[2] != base64.b64encode(bytes.fromhex(root)).decode("ascii")
    ):
        raise Invalid(f"line {len(lines)}: the head's checkpoint does not name this size and root")
    if expect is not None:
        size, kept_root = expect
        if size > len(leaves):
            raise Invalid(f"line {len(lines)}: the kept head has {size} facts, the file only {len(leaves)}")
        if mth(leaves[:size]).hex() != kept_root.lower():
            raise Invalid(f"the first {size} facts do not have the kept head's root")
    return len(leaves), root


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--expect"):
        sys.stderr.write("usage: independent_verifier.py EXPORT.jsonl [--expect SIZE:ROOTHEX]\n")
        return 2
    expect = None
    if len(argv) == 4:
        size, _, root = argv[3].partition(":")
        expect = (int(size), root)
    with open(argv[1], encoding="utf-8") as handle:  # noqa: PTH123 - this file keeps to the plainest standard library
        lines = [line for line in handle.read().split("\n") if line]
    try:
        size, root = verify(lines, expect)
    except Invalid as problem:
        sys.stderr.write(f"FAIL: {problem}\n")
        return 3
    sys.stdout.write(f"OK: {size} facts, root {root}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
