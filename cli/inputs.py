"""Reading the JSON Lines of `exposure import`: bounded memory, strict JSON.

- A line longer than `MAX_LINE` bytes is rejected without ever being held whole: the input
  is read in blocks of `BLOCK` bytes and an over-long line is skipped to its end, so memory
  stays under `MAX_LINE` plus a block whatever the file holds (a 512 MiB line is tested).
- An object that names a key twice is rejected (Python's `json` keeps the last one, so a
  second `kind` would silently change what the fact is).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any, Final

from domain.errors import InvalidFact

MAX_LINE: Final = 64 * 1024 * 1024
"""The longest line of an import file, in bytes (docs/SECURITY.md)."""
BLOCK: Final = 1024 * 1024


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def loads(text: str | bytes) -> Any:
    """`json.loads` that raises `DuplicateKey` for an object naming a key twice."""
    return json.loads(text, object_pairs_hook=_unique)


def lines(stream: IO[bytes], limit: int = MAX_LINE) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, offset of its first byte, the line without its `\\n`) for each line of a
    binary stream; the line is None when it is longer than `limit` bytes."""
    number = line_start = consumed = 0
    pending = bytearray()
    too_long = False
    while block := stream.read(BLOCK):
        start = 0
        while (end := block.find(b"\n", start)) >= 0:
            number += 1
            if too_long or len(pending) + end - start > limit:
                yield number, line_start, None
            else:
                pending += block[start:end]
                yield number, line_start, bytes(pending)
            pending.clear()
            too_long = False
            start = end + 1
            line_start = consumed + start
        if not too_long:
            pending += block[start:]
            if len(pending) > limit:
                too_long = True
                pending.clear()
        consumed += len(block)
    if pending or too_long:
        yield number + 1, line_start, None if too_long else bytes(pending)


def read_jsonl(stream: IO[bytes], name: str) -> tuple[list[tuple[str, object]], list[str]]:
    """Every non-blank line of `stream` (called `name` in errors) parsed as JSON, labelled
    `line N`, and a problem line for each line that is not (reported with the facts'
    problems, in line order); `InvalidFact` for a file that is not UTF-8."""
    items: list[tuple[str, object]] = []
    problems: list[str] = []
    for number, offset, raw in lines(stream, MAX_LINE):
        if raw is None:
            problems.append(f"line {number}: longer than {MAX_LINE // (1024 * 1024)} MiB")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{name}: not UTF-8 text (byte {offset + problem.start})") from None
        if not text.strip():
            continue
        try:
            items.append((f"line {number}", loads(text)))
        except DuplicateKey as problem:
            problems.append(f"line {number}: duplicate key {problem.args[0]!r}")
        except json.JSONDecodeError as problem:
            problems.append(f"line {number}: invalid JSON ({problem.msg} at column {problem.colno})")
        except ValueError:  # json's int() refuses numbers of more than 4,300 digits
            problems.append(f"line {number}: invalid JSON (a number with too many digits)")
        except RecursionError:
            problems.append(f"line {number}: JSON nested too deeply")
    return items, problems
