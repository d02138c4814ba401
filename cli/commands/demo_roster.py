"""Synthetic member rosters for the demo.

Every member produced here is invented: references, contracts, membership periods and
social security numbers (NIR) come from a seeded pseudo-random generator. No real person's
data is used, and a generated NIR that happens to be valid for a real person is a
coincidence of the checksum, not a record of that person.

The rows use the roster CSV layout of `exposure members import`
(`ref,role,contract,from,until,nir`) and are deterministic for a given insurer, count and
seed, so the demo prints the same answers on every run. One row in `SHARED_EVERY` is a
"shared person": its NIR depends only on the row number, so the same (invented) person
appears in several insurers' rosters and the demo's `people` count is below its
`memberships`.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

__all__ = [
    "COLUMNS",
    "DEFAULT_CONTRACTS",
    "ROSTER_COLUMNS",
    "SHARED_EVERY",
    "roster_rows",
    "shared_nir",
    "synthetic_nir",
    "write_roster_csv",
]

ROSTER_COLUMNS: tuple[str, ...] = ("ref", "role", "contract", "from", "until", "nir")
"""The roster CSV header, in order."""

COLUMNS = ROSTER_COLUMNS
"""Alias of `ROSTER_COLUMNS`."""

SHARED_EVERY = 20
"""Every row whose number is a multiple of this is a person shared across insurers."""

DEFAULT_CONTRACTS: tuple[str, ...] = ("SANTE-ESSENTIEL", "SANTE-CONFORT", "SANTE-RENFORT")
"""Contract codes used when the caller gives none (illustrative names)."""

_HOLDER_SHARE = 0.6
"""About this share of the rows are contract holders; the rest are their dependants."""

_NIR_SHARE = 0.5
"""About this share of the rows carry a NIR; the others leave it empty."""

_ENDED_SHARE = 0.15
"""About this share of the memberships have ended (a past `until` date)."""

_CORSICA_SHARE = 0.02
"""About this share of the NIRs carry a Corsican department (2A or 2B)."""

_FIRST_START = date(2000, 1, 1)
_LAST_START = date(2023, 12, 31)
_LAST_END = date(2023, 12, 31)
"""Rosters are known before the breaches: every end date lies in the past by then."""

_NAME_STOPWORDS = frozenset({"de", "des", "du", "la", "le", "les", "et", "d", "l"})


def _nir_number(first13: str) -> int:
    """Return the integer a NIR key is computed from (Corsica: 2A -> 19, 2B -> 18)."""
    return int(first13.upper().replace("2A", "19").replace("2B", "18"))


def _department(rng: random.Random) -> str:
    """Return a metropolitan birth department code, occasionally Corsican (2A/2B)."""
    if rng.random() < _CORSICA_SHARE:
        return rng.choice(("2A", "2B"))
    code = rng.randint(1, 94)  # 20 was Corsica before 1976: use 95 instead
    return "95" if code == 20 else f"{code:02d}"


def synthetic_nir(rng: random.Random) -> str:
    """Return a syntactically valid, invented 15-character NIR.

    Layout: sex (1 or 2), year of birth (2 digits), month of birth (01-12), department
    (2 characters, including 2A/2B), commune (3 digits), order number (3 digits), then the
    2-digit key ``97 - (N mod 97)`` where N is the first 13 characters read as a number
    with 2A replaced by 19 and 2B by 18.
    """
    sex = rng.choice("12")
    year = rng.randint(0, 99)
    month = rng.randint(1, 12)
    department = _department(rng)
    commune = rng.randint(1, 990)
    order = rng.randint(1, 999)
    first13 = f"{sex}{year:02d}{month:02d}{department}{commune:03d}{order:03d}"
    key = 97 - _nir_number(first13) % 97
    return f"{first13}{key:02d}"


def shared_nir(number: int) -> str:
    """Return the NIR of the shared person at row `number`: the same in every roster."""
    return synthetic_nir(random.Random(f"shared-person:{number}"))


def _ref_prefix(insurer: str) -> str:
    """Derive a short upper-case member-number prefix from an insurer id.

    ``malakoff-humanis`` gives ``MH``, ``mutuelle-des-services-publics`` gives ``MSP``,
    a one-word id such as ``alan`` gives its first two letters (``AL``).
    """
    words = [w for w in insurer.lower().replace("_", "-").split("-") if w]
    significant = [w for w in words if w not in _NAME_STOPWORDS and w.isalpha()] or words
    if not significant:
        return "M"
    if len(significant) == 1:
        return significant[0][:2].upper()
    return "".join(w[0] for w in significant[:3]).upper()


def _random_date(rng: random.Random, first: date, last: date) -> date:
    """Return a date drawn uniformly from [first, last]."""
    if last <= first:
        return first
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _end_date(rng: random.Random, start: date, cap: date) -> str:
    """Return a past end date after `start` (at most `cap`) for some rows, else ``""``."""
    if rng.random() >= _ENDED_SHARE or start >= cap:
        return ""
    return _random_date(rng, start + timedelta(days=1), cap).isoformat()


def roster_rows(
    insurer: str,
    count: int,
    seed: int,
    contracts: Sequence[str] = DEFAULT_CONTRACTS,
) -> Iterator[dict[str, str]]:
    """Yield `count` deterministic synthetic roster rows for `insurer`.

    Each row is a dict with the keys of `ROSTER_COLUMNS`, all strings (empty when absent):

    - ``ref``: the insurer's member number, e.g. ``MH-000123`` (unique within the roster);
    - ``role``: ``holder`` for about 60% of the rows, otherwise ``dependant`` of the most
      recent holder, sharing its contract and joining on or after it;
    - ``contract``: one of `contracts`;
    - ``from``: a start date between 2000-01-01 and 2023-12-31;
    - ``until``: empty for most rows, a past end date (up to 2023-12-31) for some;
    - ``nir``: a valid synthetic NIR for about half of the rows, empty otherwise; every
      `SHARED_EVERY`-th row always carries the NIR of a person shared with the other
      rosters (it depends only on the row number).

    The same arguments always give the same rows (the generator is seeded from `seed` and
    `insurer`).
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if not contracts:
        raise ValueError("contracts must not be empty")
    rng = random.Random(f"{seed}:{insurer}")
    prefix = _ref_prefix(insurer)
    holder_contract = contracts[0]
    holder_start = _FIRST_START
    holder_end = ""
    for number in range(1, count + 1):
        if number == 1 or rng.random() < _HOLDER_SHARE:
            role = "holder"
            contract = rng.choice(list(contracts))
            start = _random_date(rng, _FIRST_START, _LAST_START)
            until = _end_date(rng, start, _LAST_END)
            holder_contract, holder_start, holder_end = contract, start, until
        else:
            role = "dependant"
            contract = holder_contract
            cap = date.fromisoformat(holder_end) if holder_end else _LAST_START
            start = _random_date(rng, holder_start, cap)
            own_end = _end_date(rng, start, cap if holder_end else _LAST_END)
            until = own_end or holder_end
        nir = synthetic_nir(rng) if rng.random() < _NIR_SHARE else ""
        if number % SHARED_EVERY == 0:
            nir = shared_nir(number)
        yield {
            "ref": f"{prefix}-{number:06d}",
            "role": role,
            "contract": contract,
            "from": start.isoformat(),
            "until": until,
            "nir": nir,
        }


def write_roster_csv(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, str]],
) -> int:
    """Write `rows` to `path` as a roster CSV with header ``ref,role,contract,from,until,nir``.

    Missing keys are written as empty cells. Returns the number of data rows written.
    """
    written = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROSTER_COLUMNS), restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in ROSTER_COLUMNS})
            written += 1
    return written
