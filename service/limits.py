"""Rate limits: a token bucket per token, and a window per NIR pseudonym across tokens.

Both are checked before anything is answered and consumed only when both allow the
request, so a refused request costs nothing and reveals nothing.

`Bucket` and `NirWindow` are the rules; `Shared` keeps their state in memory that every
worker process of one `exposure serve --workers N` maps (one file, `mmap`, each check and
its consumption under one `flock`): N workers enforce the limits of one, whichever worker a
request lands on. The per-NIR counts are a count-min sketch (two rows of counters indexed
by independent bits of the pseudonym, the smaller of the two read): two pseudonyms may
share a counter, which can only make the limit stricter for them, never looser.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import mmap
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_NIR_LIMIT: Final = 10
DEFAULT_NIR_WINDOW: Final = 60.0


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


def retry_after(seconds: float) -> int:
    """The `Retry-After` header value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


TOKEN_SLOTS: Final = 4096
"""Tokens whose buckets the shared memory holds (open addressing by fingerprint)."""
SKETCH_WIDTH: Final = 1 << 21
"""Counters per row of the per-NIR sketch (two rows of 16-bit counters: 8 MiB)."""
_HEADER: Final = 64
_KEYS: Final = _HEADER
_LEVELS: Final = _KEYS + 8 * TOKEN_SLOTS
_ATS: Final = _LEVELS + 8 * TOKEN_SLOTS
_SKETCH: Final = _ATS + 8 * TOKEN_SLOTS
SIZE: Final = _SKETCH + 2 * 2 * SKETCH_WIDTH
_MAX_COUNT: Final = 0xFFFF
_SKETCH_MASK: Final = SKETCH_WIDTH - 1


class Shared:
    """The limits' state in one shared mapping (see the module's docstring).

    `Shared.anonymous()` for one process; `Shared.at(path)` maps `path` (created 0600 at
    its full size by `Shared.create` before the workers start), so every process that maps
    it sees and updates the same buckets and counts."""

    def __init__(self, memory: mmap.mmap, fd: int | None, nir_limit: int, nir_window: float) -> None:
        self.memory = memory
        self.fd = fd
        self.nir_limit = nir_limit
        self.nir_window = nir_window
        view = memoryview(memory)
        self._header = view[:_HEADER].cast("d")
        self._keys = view[_KEYS:_LEVELS].cast("Q")
        self._levels = view[_LEVELS:_ATS].cast("d")
        self._ats = view[_ATS:_SKETCH].cast("d")
        self._rows = (
            view[_SKETCH : _SKETCH + 2 * SKETCH_WIDTH].cast("H"),
            view[_SKETCH + 2 * SKETCH_WIDTH : SIZE].cast("H"),
        )

    @classmethod
    def anonymous(cls, nir_limit: int = DEFAULT_NIR_LIMIT, nir_window: float = DEFAULT_NIR_WINDOW) -> Shared:
        return cls(mmap.mmap(-1, SIZE), None, nir_limit, nir_window)

    @staticmethod
    def create(path: Path) -> None:
        """A new, zeroed file for the workers of one service to map (0600)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, SIZE)
        finally:
            os.close(fd)

    @classmethod
    def at(cls, path: Path, nir_limit: int = DEFAULT_NIR_LIMIT, nir_window: float = DEFAULT_NIR_WINDOW) -> Shared:
        fd = os.open(path, os.O_RDWR)
        return cls(mmap.mmap(fd, SIZE), fd, nir_limit, nir_window)

    def close(self) -> None:
        for view in (self._header, self._keys, self._levels, self._ats, *self._rows):
            view.release()
        self.memory.close()
        if self.fd is not None:
            os.close(self.fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.fd is None:  # one process, one event loop: nothing runs between check and take
            yield
            return
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def _slot(self, fingerprint: str) -> int:
        key = int(fingerprint[:15], 16) + 1
        index = key % TOKEN_SLOTS
        for _ in range(TOKEN_SLOTS):
            found = self._keys[index]
            if found in (key, 0):
                if found == 0:
                    self._keys[index] = key
                    self._ats[index] = 0.0
                    self._levels[index] = -1.0
                return index
            index = (index + 1) % TOKEN_SLOTS
        raise OverflowError("more tokens than the shared limits hold")  # pragma: no cover - 4,096 tokens

    def admit(
        self, fingerprint: str, per_second: float, size: float, cost: int, pseudonyms: Sequence[str], now: float
    ) -> float:
        """0 and both limits consumed when the request fits; else the seconds to wait (nothing consumed)."""
        with self._locked():
            slot = self._slot(fingerprint)
            bucket = Bucket(per_second, size, self._levels[slot], self._ats[slot])
            if now - self._header[0] >= self.nir_window:
                self.memory[_SKETCH:SIZE] = bytes(SIZE - _SKETCH)
                self._header[0] = now
            first, second = self._rows
            limit = self.nir_limit
            cells: list[tuple[int, int, int]] = []  # one pass: each pseudonym's two counters and its count
            crowded = False
            distinct = set(pseudonyms)
            counted = ((p, 1) for p in distinct) if len(distinct) == len(pseudonyms) else Counter(pseudonyms).items()
            for pseudonym, count in counted:
                bits = int(pseudonym[:16], 16)  # the first 32 bits index one row, the next 32 the other
                a, b = (bits >> 32) & _SKETCH_MASK, bits & _SKETCH_MASK
                if not crowded and (first[a] if first[a] < second[b] else second[b]) + count > limit:
                    crowded = True
                cells.append((a, b, count))
            wait = max(bucket.wait(cost, now), self._header[0] + self.nir_window - now if crowded else 0.0)
            if wait <= 0:
                bucket.take(cost, now)
                for a, b, count in cells:
                    up, down = first[a] + count, second[b] + count
                    first[a] = up if up < _MAX_COUNT else _MAX_COUNT
                    second[b] = down if down < _MAX_COUNT else _MAX_COUNT
            self._levels[slot], self._ats[slot] = bucket.level, bucket.at
            return max(0.0, wait)
