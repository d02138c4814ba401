"""Rate limits: a token bucket per token, and a window per NIR pseudonym across tokens.

Both are checked before anything is answered and consumed only when both allow the
request, so a refused request costs nothing and reveals nothing. They live in the
memory of one service process (with `--workers N`, each worker keeps its own: the
effective limits are N times these; docs/SERVICE.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

DEFAULT_NIR_LIMIT: Final = 10
DEFAULT_NIR_WINDOW: Final = 60.0
MAX_TRACKED: Final = 4_000_000
"""Pseudonyms kept per window at most (a flood past that starts a new window early)."""


@dataclass
class Bucket:
    """A token bucket: `size` lookups, refilled at `per_second`."""

    per_second: float
    size: float
    level: float = -1.0
    at: float = 0.0

    def wait(self, cost: int, now: float) -> float:
        """Seconds until `cost` lookups fit (0: they fit now)."""
        self._refill(now)
        if cost <= self.level:
            return 0.0
        return (cost - self.level) / self.per_second

    def take(self, cost: int, now: float) -> None:
        """Consume `cost` lookups (after `wait` said they fit)."""
        self._refill(now)
        self.level -= cost

    def _refill(self, now: float) -> None:
        if self.level < 0 and self.at == 0.0:
            self.level, self.at = self.size, now
        self.level = min(self.size, self.level + (now - self.at) * self.per_second)
        self.at = now


@dataclass
class NirWindow:
    """At most `limit` lookups of one pseudonym per fixed window of `seconds`, whoever asks."""

    limit: int = DEFAULT_NIR_LIMIT
    seconds: float = DEFAULT_NIR_WINDOW
    started: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)

    def wait(self, pseudonyms: Sequence[str], now: float) -> float:
        """Seconds until every pseudonym may be looked up again (0: now)."""
        self._roll(now)
        wanted = Counter(pseudonyms)
        if any(self.counts[p] + n > self.limit for p, n in wanted.items()):
            return max(0.0, self.started + self.seconds - now)
        return 0.0

    def take(self, pseudonyms: Sequence[str], now: float) -> None:
        """Count the lookups (after `wait` said they fit)."""
        self._roll(now)
        self.counts.update(pseudonyms)

    def _roll(self, now: float) -> None:
        if now - self.started >= self.seconds or len(self.counts) > MAX_TRACKED:
            self.started, self.counts = now, Counter()


def retry_after(seconds: float) -> int:
    """The `Retry-After` header value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
