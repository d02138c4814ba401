"""A roster fact's member rows, decoded without the fact's other fields."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    pass


class Row(msgspec.Struct, frozen=True):
    """A roster row as stored (dates kept as their ISO text: the view stores that text)."""

    ref: str
    role: str | None = None
    contract: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    until: str | None = None
    nir: str | None = None


class Roster(msgspec.Struct, frozen=True):
    """What the members projection reads of a `members-enrolled` fact (other keys ignored)."""

    id: str
    insurer: str
    known_on: datetime
    members: list[Row]


roster_decoder = msgspec.json.Decoder(Roster)
