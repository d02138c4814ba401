"""Knowledge over time: diff, changed members, timeline, obligations, VERIS, report data."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from domain import obligations as deadline_rules
from domain.answers import AsOf, Diff, NotificationShown, NotKnown, Obligations, Summary, TimelineEntry
from domain.derive import IncidentView
from domain.errors import InvalidTime
from ledger.store import Store
from projections import history, queries
from projections.queries import Horizon


def check_order(before: Horizon, after: Horizon) -> None:
    """A `diff` compares an earlier horizon with a later one."""
    if before.as_known_on > after.as_known_on:
        raise InvalidTime("--from must not be later than --to")


async def diff(store: Store, incident: str, before: Horizon, after: Horizon) -> Diff:
    """What changed in knowledge between two horizons: insurers, fields, member counts."""
    check_order(before, after)
    return await history.diff(store.db, incident, before, after)


async def changed_members(
    store: Store, incident: str, before: Horizon, after: Horizon
) -> AsyncGenerator[dict[str, Any], None]:
    """The members whose answer changed between two horizons, as rows to stream; the question
    is checked first, so that an error comes before anything is written."""
    check_order(before, after)
    await queries.require_incident(store.db, incident)
    return history.changed_members(store.db, incident, before, after)


async def timeline(store: Store, incident: str, h: Horizon) -> list[TimelineEntry]:
    """The knowledge history: one entry per knowledge time that changed an answer."""
    return await history.timeline(store.db, incident, h)


async def notifications(store: Store, incident: str, h: Horizon) -> list[NotificationShown]:
    """The authority and member notifications of an incident, as known at the horizon."""
    return await history.notifications(store.db, incident, h)


async def obligations(store: Store, incident: str, h: Horizon, rule: deadline_rules.Rule) -> Obligations:
    """Per insurer: awareness, deadline under the versioned `rule`, notices, status."""
    return await history.obligations(store.db, incident, h, rule)


async def veris(store: Store, incident: str, h: Horizon, *, country: str, industry: str) -> Any:
    """What a VERIS 1.4 record of the incident is made from (see `domain.veris.record`)."""
    return await history.veris_incident(store.db, incident, h, store.tz, country=country, industry=industry)


def as_of(h: Horizon) -> AsOf:
    """The horizon as an answer's keys (`as_known_on`, `as_recorded_at`)."""
    return AsOf(as_known_on=h.known_on, as_recorded_at=h.recorded_at)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Every answer the HTML report shows, at one horizon."""

    horizon: Horizon
    summary: Summary | NotKnown
    view: IncidentView
    timeline: list[TimelineEntry]
    obligations: Obligations
    facts: list[history.FactRow]


async def report(store: Store, incident: str, h: Horizon, rule: deadline_rules.Rule) -> ReportData:
    """The answers of `summary`, `timeline` and `obligations` and the facts behind them, at one horizon."""
    db = store.db
    return ReportData(
        horizon=h,
        summary=await queries.summary(db, incident, h),
        view=await queries.incident_view(db, incident, h),
        timeline=await history.timeline(db, incident, h),
        obligations=await history.obligations(db, incident, h, rule),
        facts=await history.relevant_facts(db, incident, h),
    )
