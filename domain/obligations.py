"""Notification deadlines as versioned data, and the pure arithmetic of a controller's clock.

A rule is data, not a constant: the GDPR's 72 hours (Art. 33(1)) are in force, and the
European Commission's "Digital Omnibus" proposal of November 2025 would raise them to
96 hours. `RULES` holds both; a command chooses one by id. A rule that is only proposed
has no `valid_from`.

Deadlines are computed in UTC: "72 hours" are 72 real hours, whatever the wall clocks
of the ledger's time zone do in between (a daylight-saving change makes a local day
23 or 25 hours long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from domain.errors import UnknownReference

Status = Literal["on-time", "late", "pending", "overdue"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One version of the authority-notification deadline."""

    id: str
    article: str
    hours: int
    description: str
    valid_from: date | None
    """First day the rule applies; None for a proposal not (yet) in force."""

    def deadline(self, aware_at: datetime) -> datetime:
        """`hours` real hours after the controller became aware, in UTC."""
        return aware_at.astimezone(UTC) + timedelta(hours=self.hours)

    def as_json(self) -> dict[str, object]:
        """The rule as JSON keys."""
        return {
            "id": self.id,
            "article": self.article,
            "hours": self.hours,
            "description": self.description,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
        }


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        id="gdpr-72h",
        article="GDPR Art. 33(1)",
        hours=72,
        description="Notify the supervisory authority without undue delay and, where feasible,"
        " not later than 72 hours after having become aware of the breach.",
        valid_from=date(2018, 5, 25),
    ),
    Rule(
        id="proposal-96h",
        article="GDPR Art. 33(1) as proposed by the Digital Omnibus (European Commission, November 2025)",
        hours=96,
        description="Proposal, not in force: notify breaches likely to result in a high risk"
        " within 96 hours, through a single entry point.",
        valid_from=None,
    ),
)

DEFAULT_RULE: Final = "gdpr-72h"
RULE_IDS: Final[tuple[str, ...]] = tuple(r.id for r in RULES)


def rule(rule_id: str) -> Rule:
    """The rule called `rule_id`, or `UnknownReference` naming the known ones."""
    for candidate in RULES:
        if candidate.id == rule_id:
            return candidate
    raise UnknownReference(f"unknown rules {rule_id!r} (known: {', '.join(RULE_IDS)})")


def status(deadline: datetime, notified_at: datetime | None, now: datetime) -> Status:
    """`on-time` or `late` once notified; else `pending` before the deadline, `overdue` after."""
    if notified_at is not None:
        return "on-time" if notified_at <= deadline else "late"
    return "pending" if now <= deadline else "overdue"
