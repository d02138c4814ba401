"""What the HTML report shows, gathered once (`cli.commands.report.gather`): the answers of
`summary`, `timeline` and `obligations` at one horizon, and the facts as chart markers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.answers import Obligations, Summary, TimelineEntry


@dataclass(frozen=True, slots=True)
class Marker:
    """A fact on the chart and in the sources."""

    id: str
    kind: str
    known: datetime
    occurred: datetime
    source: str | None
    confidence: str | None
    insurer: str | None
    retracts: str | None
    """For a retraction: the id of the fact it hides."""
    retracted_by: str | None
    """The retraction hiding this fact at the horizon, if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """Every answer and fact the page shows, in the ledger's zone `tz`."""

    incident: str
    title: str | None
    operator: str | None
    attack_began: datetime | None
    opened_at: datetime | None
    tz: ZoneInfo
    summary: Summary
    timeline: list[TimelineEntry]
    obligations: Obligations
    markers: list[Marker]
    rosters: list[Marker]
    generated_at: datetime
