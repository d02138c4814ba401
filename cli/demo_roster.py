"""Synthetic rosters for `exposure demo`: reproducible members, no real person's data.

Member numbers are invented (`MH-000042`); NIRs are generated with a valid key
but random digits. One member in twenty is a "shared person" whose NIR depends
only on the row number, so the same person appears in several insurers' rosters
(the demo's `people` count is then below its `memberships`).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Final

COLUMNS: Final = ("ref", "role", "contract", "from", "until", "nir")
SHARED_EVERY: Final = 20
_FIRST_DAY: Final = date(2000, 1, 1)
_SPAN_DAYS: Final = (date(2023, 12, 31) - _FIRST_DAY).days


def synthetic_nir(rng: random.Random) -> str:
    """A NIR with a valid key and random digits (sex, year, month, department, commune, order)."""
    first_13 = (
        f"{rng.choice('12')}{rng.randrange(100):02d}{rng.randrange(1, 13):02d}"
        f"{rng.randrange(1, 96):02d}{rng.randrange(1, 1000):03d}{rng.randrange(1, 1000):03d}"
    )
    return first_13 + f"{97 - int(first_13) % 97:02d}"


def _prefix(insurer: str) -> str:
    letters = "".join(part[0] for part in insurer.split("-") if part).upper()
    return letters or "M"


def roster_rows(insurer: str, count: int, *, seed: int, contracts: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """`count` synthetic members of `insurer` (the same seed gives the same rows)."""
    rng = random.Random(seed)
    prefix = _prefix(insurer)
    for number in range(1, count + 1):
        start = _FIRST_DAY + timedelta(days=rng.randrange(_SPAN_DAYS))
        ended = rng.random() < 0.1
        end = start + timedelta(days=rng.randrange(1, 3650)) if ended else None
        shared = number % SHARED_EVERY == 0
        nir = synthetic_nir(random.Random(number)) if shared else synthetic_nir(rng)
        yield {
            "ref": f"{prefix}-{number:06d}",
            "role": "dependant" if rng.random() < 0.35 else "holder",
            "contract": rng.choice(contracts),
            "from": start.isoformat(),
            "until": end.isoformat() if end else "",
            "nir": nir if rng.random() < 0.9 else "",
        }


def write_roster_csv(path: Path, rows: Iterable[dict[str, str]]) -> int:
    """Write rows as a roster CSV (header `ref,role,contract,from,until,nir`); return how many."""
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            written += 1
    return written
