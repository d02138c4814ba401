"""Insurer names close to a known one (a typo), announced before an import adds a new insurer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, Protocol

from ledger.store import Store
from projections import queries


class Warn(Protocol):
    """Where warnings go: `warn(kind, **values)`; the command line words them (in its language)."""

    def __call__(self, kind: str, **values: Any) -> None: ...


MAX_EDITS: Final = 2


def edits(a: str, b: str, limit: int = MAX_EDITS) -> int:
    """The Levenshtein distance between `a` and `b`, or `limit + 1` once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


_DIGITS = re.compile(r"\d+")


def near(insurer: str, known: Sequence[str]) -> list[str]:
    """Known insurers within two edits of `insurer`, closest first; ids that differ only in
    their numbers (ins-01, ins-02) are a series, not typos."""
    shape = _DIGITS.sub("#", insurer)
    found = [(edits(insurer, k), k) for k in known if _DIGITS.sub("#", k) != shape]
    return [k for d, k in sorted(found) if d <= MAX_EDITS]


async def announce(store: Store, insurer: str, expected: bool, say: Warn) -> None:
    """Say that `insurer` is new to the ledger (unless --new-insurer), and which known one it may mean."""
    known = await queries.insurers_ever(store.db)
    if insurer in known or expected:
        return
    say("new_insurer", insurer=insurer, near=near(insurer, known)[:3])
