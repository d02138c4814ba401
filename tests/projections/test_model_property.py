"""The real ledger against an independent oracle: random valid histories, appended through
the real `Store` (one append per generated batch, as `exposure import` does), answer
`summary` and `member` exactly like `tests/support/reference_model.py` at random "as known on X"
and "as recorded at Y" points.

Histories have 1-2 incidents, 2-3 insurers, a few members with and without NIR pseudonyms
(some people at two insurers), re-enrolments, scopes, insurer rulings, incident-wide and
insurer-scoped field facts, member findings, measures and insurer descriptions (compared with
what `exposure notify` drafts from), retractions, ties on `known_on` and facts back-dated in
later batches.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.facts import to_builtins
from domain.times import iso_utc
from ledger.store import Store
from projections import notify as notices
from projections import queries
from tests.support import PARIS, labelled, valid_nir
from tests.support.reference_model import ReferenceModel

INCIDENTS = ("inc-a", "inc-b")
INSURERS = ("ins-0", "ins-1", "ins-2")
REFS = ("r0", "r1", "r2")
CATEGORIES = ("nir", "birth_date", "health", "phone")
NIRS = (valid_nir("1840175123456"), valid_nir("2900299001002"), valid_nir("190032A012345"))
KNOWN_ON = (
    "2024-01-30",
    "2024-02-01",
    "2024-02-01T09:30:00+01:00",
    "2024-02-02",
    "2024-02-02T23:59:59+01:00",
    "2024-02-03",
    "2024-02-04T00:00:00Z",
)
"""Few values, so that ties on known_on are frequent; any of them may come in a later batch."""
AS_KNOWN_ON = (
    "2024-01-29",
    "2024-01-30",
    "2024-02-01",
    "2024-02-01T09:29:59.999999+01:00",
    "2024-02-01T09:30:00+01:00",
    "2024-02-02",
    "2024-02-03T00:00:00+01:00",
    "2024-02-04T00:59:59.999999+01:00",
    "2024-02-04",
)
DAYS = (None, date(2019, 1, 1), date(2022, 6, 30), date(2024, 1, 1))
ZONE = ZoneInfo(PARIS)
PER_EXAMPLE_POINTS = 4


# -- generating valid histories ------------------------------------------------------------


@dataclass
class History:
    """What the generator has produced so far (to keep every fact valid)."""

    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    named: set[str] = field(default_factory=set)
    enrolled: dict[str, set[str]] = field(default_factory=dict)
    retractable: list[str] = field(default_factory=list)
    count: int = 0

    def new_id(self) -> str:
        self.count += 1
        return f"f{self.count}"


def period(draw: st.DrawFn, first: str, last: str) -> dict[str, date]:
    start, end = draw(st.sampled_from(DAYS)), draw(st.sampled_from(DAYS))
    if start is not None and end is not None and end < start:
        start, end = end, start
    return {k: v for k, v in ((first, start), (last, end)) if v is not None}


def member(draw: st.DrawFn, ref: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"ref": ref}
    for key, options in (("role", ("holder", "dependant")), ("contract", ("c1", "c2")), ("nir", (*NIRS, NIRS[0]))):
        value = draw(st.sampled_from((None, *options)))
        if value is not None:
            entry[key] = value
    dates = period(draw, "from", "until")
    return {**entry, **{k: v.isoformat() for k, v in dates.items()}}


def next_fact(draw: st.DrawFn, history: History) -> dict[str, Any]:
    """One fact that the ledger accepts after everything generated before it."""
    incident = draw(st.sampled_from(history.opened))
    insurer = draw(st.sampled_from(INSURERS))
    named = sorted(history.named)
    with_refs = sorted(i for i, refs in history.enrolled.items() if refs)
    kinds = [
        "insurer-informed",
        "insurer-confirmed-affected",
        "insurer-confirmed-affected",
        "insurer-ruled-out",
        "members-enrolled",
        "members-enrolled",
        "field-ruled-in",
        "field-ruled-out",
        "field-suspected",
    ]
    if named:
        kinds += ["scope-defined", "field-ruled-in", "insurer-described", "measure-taken"]
    if with_refs:
        kinds += ["members-confirmed-affected", "members-ruled-out", "members-enrolled"]
    if history.retractable:
        kinds += ["fact-retracted", "fact-retracted"]
    if len(history.opened) < len(INCIDENTS):
        kinds.append("attack-discovered")
    kind = draw(st.sampled_from(kinds))
    item: dict[str, Any] = {"kind": kind, "id": history.new_id(), "known_on": draw(st.sampled_from(KNOWN_ON))}
    match kind:
        case "attack-discovered":
            incident = INCIDENTS[len(history.opened)]
            history.opened.append(incident)
            item.update(incident=incident, operator="op", occurred_on="2024-01-22", known_on="2024-01-29")
            return item  # never retracted: the incident's existence is not what is under test
        case "insurer-informed" | "insurer-confirmed-affected" | "insurer-ruled-out":
            item.update(incident=incident, insurer=insurer)
            history.named.add(insurer)
        case "members-enrolled":
            refs = draw(st.lists(st.sampled_from(REFS), min_size=1, max_size=3, unique=True))
            item.update(
                insurer=insurer,
                members=[member(draw, ref) for ref in refs],
                known_on=draw(st.sampled_from(KNOWN_ON[:3])),
            )  # re-enrolments often tie
            history.named.add(insurer)
            history.enrolled.setdefault(insurer, set()).update(refs)
        case "members-confirmed-affected" | "members-ruled-out":
            insurer = draw(st.sampled_from(with_refs))
            refs = draw(
                st.lists(st.sampled_from(sorted(history.enrolled[insurer])), min_size=1, max_size=2, unique=True)
            )
            item.update(incident=incident, insurer=insurer, refs=refs)
        case "scope-defined":
            item.update(incident=incident, insurer=draw(st.sampled_from(named)))
            criteria: dict[str, Any] = {}
            while not criteria:
                if draw(st.booleans()):
                    criteria["contracts"] = draw(st.lists(st.sampled_from(("c1", "c2", "c3")), min_size=1, unique=True))
                if draw(st.booleans()):
                    criteria["roles"] = draw(
                        st.lists(st.sampled_from(("holder", "dependant")), min_size=1, unique=True)
                    )
                criteria.update({k: v.isoformat() for k, v in period(draw, "enrolled_from", "enrolled_until").items()})
            item.update(criteria)
        case "fact-retracted":
            item["fact"] = draw(st.sampled_from(history.retractable))
            return item  # a retraction cannot be retracted
        case "measure-taken":
            item.update(incident=incident, measure=f"measure {item['id']}")
            if draw(st.booleans()):
                item["insurer"] = draw(st.sampled_from(named))
        case "insurer-described":
            item["insurer"] = draw(st.sampled_from(named))
            if draw(st.booleans()):
                item["dpo_contact"] = f"dpo-{item['id']}@example.org"
        case _:  # field facts: incident-wide, or for a named insurer
            item.update(
                incident=incident,
                categories=draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True)),
            )
            if named and draw(st.booleans()):
                item["insurer"] = draw(st.sampled_from(named))
    history.retractable.append(item["id"])
    return item


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """1-4 batches of 1-6 facts; the first batch opens an incident."""
    history = History()
    for number in range(draw(st.integers(1, 4))):
        batch = []
        if number == 0:
            history.opened.append(INCIDENTS[0])
            batch.append(
                {
                    "kind": "attack-discovered",
                    "id": history.new_id(),
                    "incident": INCIDENTS[0],
                    "operator": "op",
                    "occurred_on": "2024-01-22",
                    "known_on": "2024-01-29",
                }
            )
        batch += [next_fact(draw, history) for _ in range(draw(st.integers(1, 6)))]
        history.batches.append(batch)
    return history.batches


@dataclass(frozen=True)
class Point:
    """A horizon: X from `AS_KNOWN_ON`; Y None, or the recorded_at of the fact at a
    position (as a fraction of the log) shifted by -1, 0 or +1 microsecond."""

    as_known_on: str
    at_fraction: float | None
    shift_us: int


points = st.builds(
    Point,
    as_known_on=st.sampled_from(AS_KNOWN_ON),
    at_fraction=st.one_of(st.none(), st.floats(0, 1)),
    shift_us=st.sampled_from((-1, 0, 1)),
)


# -- the oracle's input and answers ----------------------------------------------------------


def model_input(store: Store) -> list[dict[str, Any]]:
    """The stored facts as the model takes them: SPEC keys, aware known_on, position, recorded_at."""
    facts = []
    for recorded in store.facts():
        item = {k: v for k, v in to_builtins(recorded.fact).items() if v is not None}
        item.update(known_on=recorded.fact.known_on, position=recorded.position, recorded_at=recorded.timestamp)
        for key in ("enrolled_from", "enrolled_until"):
            if key in item:
                item[key] = date.fromisoformat(item[key])
        if "members" in item:
            item["members"] = [
                {k: date.fromisoformat(v) if k in ("from", "until") else v for k, v in m.items() if v is not None}
                for m in item["members"]
            ]
        facts.append(item)
    return facts


def as_known_on(text: str) -> datetime:
    """X as the SPEC defines it, computed here: a date is the end of that day in the ledger's zone."""
    if len(text) == 10:
        following = date.fromisoformat(text) + timedelta(days=1)
        return datetime(following.year, following.month, following.day, tzinfo=ZONE) - timedelta(microseconds=1)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_recorded_at(point: Point, facts: list[dict[str, Any]]) -> datetime | None:
    if point.at_fraction is None:
        return None
    chosen = facts[min(int(point.at_fraction * len(facts)), len(facts) - 1)]["recorded_at"]
    return (chosen + timedelta(microseconds=point.shift_us)).astimezone(UTC)


def real_memberships(answer: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, list[str]]]:
    return {
        (m["insurer"], m["ref"], found["incident"]): (found["status"], found["fields"])
        for m in answer["memberships"]
        for found in m["incidents"]
    }


def describe(facts: list[dict[str, Any]]) -> None:
    """Statistics (pytest --hypothesis-show-statistics): how often the hard cases occur."""
    kinds = {f["kind"] for f in facts}
    for kind in ("fact-retracted", "scope-defined", "members-confirmed-affected", "members-ruled-out"):
        if kind in kinds:
            event(f"has {kind}")
    if any(later["known_on"] < earlier["known_on"] for earlier, later in itertools.pairwise(facts)):
        event("back-dated fact")
    if len({(f["known_on"], f.get("incident"), f.get("insurer")) for f in facts}) < len(facts):
        event("ties on known_on")
    versions = [
        (f["insurer"], m["ref"], f["known_on"]) for f in facts if f["kind"] == "members-enrolled" for m in f["members"]
    ]
    if len(set(versions)) < len(versions):
        event("a member re-enrolled with the same known_on")


async def compare(template: Path, folder: Path, batches: list[list[dict[str, Any]]], horizons: list[Point]) -> None:
    """Append `batches` to a fresh copy of the empty `template` store in `folder`, then compare."""
    for leftover in folder.iterdir():
        leftover.unlink()
    for file in template.parent.iterdir():
        shutil.copy2(file, folder / file.name)
    store = await Store.open(str(folder / template.name))
    try:
        for batch in batches:
            await store.append(labelled(*batch))
        facts = model_input(store)
        model = ReferenceModel(facts)
        enrolled = sorted(
            {(f["insurer"], m["ref"]) for f in facts if f["kind"] == "members-enrolled" for m in f["members"]}
        )
        opened = [f for f in facts if f["kind"] == "attack-discovered"]
        describe(facts)
        for point in horizons:
            x, y = as_known_on(point.as_known_on), as_recorded_at(point, facts)
            h = await store.horizon(point.as_known_on, iso_utc(y) if y else None)
            where = f"as known on {point.as_known_on}, as recorded at {y and iso_utc(y)}"
            for attack in opened:
                incident = attack["incident"]
                real = msgspec.to_builtins(await queries.summary(store.db, incident, h))
                for header in ("as_known_on", "as_recorded_at"):
                    real.pop(header, None)
                assert real == model.summary(incident, x, y), f"summary of {incident} {where}"
                if real.get("known", True) and real["members"]["people"] < real["members"]["affected"]:
                    event("a person affected at two insurers")
            visible = [a["incident"] for a in opened if a["known_on"] <= x and (y is None or a["recorded_at"] <= y)]
            for insurer, ref in enrolled:
                answer = real_memberships(
                    msgspec.to_builtins(await queries.member(store.db, h, insurer_id=insurer, ref=ref))
                )
                for incident in visible:
                    expected = (
                        model.member_status(incident, insurer, ref, x, y),
                        model.member_fields(incident, insurer, ref, x, y),
                    )
                    got = answer.get((insurer, ref, incident), ("not-affected", []))
                    assert got == expected, f"member {insurer}/{ref} in {incident} {where}"
            for incident in visible:
                for insurer in sorted({f["insurer"] for f in facts if f["kind"] == "insurer-described"}):
                    drafted = await notices.known(store.db, incident, insurer, h)
                    assert sorted(m.id for m in drafted.measures) == model.measures(incident, insurer, x, y), where
                    contact = drafted.contact.dpo_contact if drafted.contact else None
                    assert contact == model.contact(insurer, x, y), f"contact of {insurer} {where}"
    finally:
        await store.close()


@settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=histories(), horizons=st.lists(points, min_size=PER_EXAMPLE_POINTS, max_size=PER_EXAMPLE_POINTS))
def test_summary_and_member_answers_equal_the_reference_model(store_path, tmp_path, batches, horizons):
    folder = tmp_path / "example"
    folder.mkdir(exist_ok=True)

    asyncio.run(compare(store_path, folder, batches, horizons))
