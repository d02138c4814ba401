"""A tiny, independent reference model of SPEC §5 ("Derived state, as known on X").

It is an oracle for property-based tests against the real ledger, so it imports only the
standard library and favours clarity over speed: every query replays the facts in memory.

Input facts are dicts in the SPEC §3 JSON shape, each also carrying
- `known_on`: an aware datetime (already resolved),
- `position`: the 1-based append position, strictly increasing in list order,
- `recorded_at`: an aware datetime, strictly increasing with `position`.
Member periods and scope periods (`from`, `until`, `enrolled_from`, `enrolled_until`) are
`datetime.date` or None/absent; a member's `nir` is an opaque (already pseudonymised) string.

The model trusts its input (the ledger rejects malformed facts); it checks only the
orderings it relies on.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

Fact = Mapping[str, Any]

RETRACTION = "fact-retracted"
INSURER_RULINGS = {"insurer-confirmed-affected": "affected", "insurer-ruled-out": "ruled-out"}
FIELD_RULINGS = {
    "field-ruled-in": "exposed",
    "field-ruled-out": "ruled-out",
    "field-suspected": "suspected",
}
MEMBER_FINDINGS = {"members-confirmed-affected": "confirmed", "members-ruled-out": "ruled-out"}
AFFECTED_MEMBER_STATUSES = ("confirmed", "presumed")


def knowledge_order(fact: Fact) -> tuple[datetime, int]:
    """SPEC §2: "Between facts on the same subject, the later `known_on` wins; on a tie, the
    later append." Sorting by this key puts the winning fact last."""
    return fact["known_on"], fact["position"]


def latest(facts: Iterable[Fact], about: Callable[[Fact], bool]) -> Fact | None:
    """The winning fact among those `about` the subject, or None when there is none."""
    candidates = [fact for fact in facts if about(fact)]
    return max(candidates, key=knowledge_order) if candidates else None


def overlaps(start: date | None, end: date | None, other_start: date | None, other_end: date | None) -> bool:
    """Closed periods overlap; a missing bound is open-ended."""
    starts_in_time = start is None or other_end is None or start <= other_end
    ends_in_time = end is None or other_start is None or end >= other_start
    return starts_in_time and ends_in_time


def matches_scope(member: Fact, scope: Fact | None) -> bool:
    """SPEC §3 `scope-defined`: "only those matching every given criterion; membership
    periods that overlap [`enrolled_from`, `enrolled_until`] match". No scope: all match.
    An empty or absent list is a criterion not given; a given criterion the member has no
    value for does not match; missing period bounds (member's or scope's) are open-ended."""
    if scope is None:
        return True
    contracts = scope.get("contracts") or ()
    if contracts and member.get("contract") not in contracts:
        return False
    roles = scope.get("roles") or ()
    if roles and member.get("role") not in roles:
        return False
    return overlaps(
        member.get("from"),
        member.get("until"),
        scope.get("enrolled_from"),
        scope.get("enrolled_until"),
    )


class ReferenceModel:
    """SPEC §5 answers computed by replaying `facts` (given in append order)."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        self._facts = tuple(facts)
        for earlier, later in zip(self._facts, self._facts[1:], strict=False):
            if later["position"] <= earlier["position"]:
                raise ValueError(f"positions must increase: {later['position']} after {earlier['position']}")
            if later["recorded_at"] <= earlier["recorded_at"]:
                raise ValueError(f"recorded_at must increase with position (at position {later['position']})")
        for fact in self._facts:
            for time in (fact["known_on"], fact["recorded_at"]):
                if time.utcoffset() is None:
                    raise ValueError(f"naive time in fact at position {fact['position']}")

    # -- which facts count -------------------------------------------------------------

    def visible(self, as_known_on: datetime, as_recorded_at: datetime | None = None) -> list[Fact]:
        """Facts with known_on <= X (and recorded_at <= Y when given) not retracted by a
        fact-retracted whose known_on <= X (and recorded_at <= Y), in knowledge order.

        SPEC §2: "as known on X: the state derived from the facts with `known_on <= X` that
        are not retracted by a retraction with `known_on <= X`"; "as recorded at Y:
        additionally only facts (and retractions) with `recorded_at <= Y`".
        SPEC §3: a retraction of a retraction is rejected, so retractions always stay."""
        considered = [
            fact
            for fact in self._facts
            if fact["known_on"] <= as_known_on and (as_recorded_at is None or fact["recorded_at"] <= as_recorded_at)
        ]
        retracted = {fact["fact"] for fact in considered if fact["kind"] == RETRACTION}
        kept = [fact for fact in considered if fact["kind"] == RETRACTION or fact["id"] not in retracted]
        return sorted(kept, key=knowledge_order)

    # -- SPEC §5 queries ---------------------------------------------------------------

    def insurer_status(self, incident: str, insurer: str, x: datetime, y: datetime | None = None) -> str:
        """'affected' | 'ruled-out' | 'informed' | 'unknown'."""
        return _insurer_status(self.visible(x, y), incident, insurer)

    def field_status(self, incident: str, insurer: str, category: str, x: datetime, y: datetime | None = None) -> str:
        """'exposed' | 'ruled-out' | 'suspected' | 'unknown'."""
        return _field_status(self.visible(x, y), incident, insurer, category)

    def members(self, insurer: str, x: datetime, y: datetime | None = None) -> dict[str, dict[str, Any]]:
        """ref -> attributes of the latest visible `members-enrolled` entry for that ref."""
        return _members(self.visible(x, y), insurer)

    def member_status(self, incident: str, insurer: str, ref: str, x: datetime, y: datetime | None = None) -> str:
        """'confirmed' | 'ruled-out' | 'presumed' | 'not-affected'."""
        return _member_status(self.visible(x, y), incident, insurer, ref)

    def member_fields(self, incident: str, insurer: str, ref: str, x: datetime, y: datetime | None = None) -> list[str]:
        """Sorted categories exposed for a confirmed or presumed member; [] otherwise."""
        return _member_fields(self.visible(x, y), incident, insurer, ref)

    def summary(self, incident: str, x: datetime, y: datetime | None = None) -> dict[str, Any]:
        """SPEC §7 `summary` JSON shape without `as_known_on`."""
        return _summary(self.visible(x, y), incident)

    # -- what the notifications are written from (docs/NOTIFY.md) ----------------------

    def measures(self, incident: str, insurer: str, x: datetime, y: datetime | None = None) -> list[str]:
        """Sorted ids of the visible `measure-taken` facts of the incident that are
        incident-wide or the insurer's own."""
        return sorted(
            fact["id"]
            for fact in self.visible(x, y)
            if fact["kind"] == "measure-taken"
            and fact["incident"] == incident
            and fact.get("insurer") in (None, insurer)
        )

    def contact(self, insurer: str, x: datetime, y: datetime | None = None) -> str | None:
        """`dpo_contact` of the winning visible `insurer-described` fact (later known_on, then
        later append), None when there is none or it has no contact."""
        described = latest(self.visible(x, y), lambda f: f["kind"] == "insurer-described" and f["insurer"] == insurer)
        return described.get("dpo_contact") if described else None


# -- the rules, over the visible facts -------------------------------------------------


def _insurer_status(facts: list[Fact], incident: str, insurer: str) -> str:
    """SPEC §5: "`affected` or `ruled-out` from the latest of the two facts; otherwise
    `informed` if informed; otherwise `unknown`"."""

    def about_insurer(fact: Fact) -> bool:
        return fact.get("incident") == incident and fact.get("insurer") == insurer

    ruling = latest(facts, lambda fact: fact["kind"] in INSURER_RULINGS and about_insurer(fact))
    if ruling is not None:
        return INSURER_RULINGS[ruling["kind"]]
    if any(fact["kind"] == "insurer-informed" and about_insurer(fact) for fact in facts):
        return "informed"
    return "unknown"


def _field_level_status(facts: list[Fact], incident: str, insurer: str | None, category: str) -> str | None:
    """The status set by the latest field fact at one level: `insurer` None is the
    incident-wide level (facts without `insurer`). None when that level says nothing."""
    ruling = latest(
        facts,
        lambda fact: (
            fact["kind"] in FIELD_RULINGS
            and fact.get("incident") == incident
            and fact.get("insurer") == insurer
            and category in fact["categories"]
        ),
    )
    return None if ruling is None else FIELD_RULINGS[ruling["kind"]]


def _field_status(facts: list[Fact], incident: str, insurer: str | None, category: str) -> str:
    """SPEC §5: "the latest insurer-scoped fact if any, else the latest incident-wide fact:
    `exposed`, `ruled-out`, `suspected` or `unknown`"."""
    scoped = None if insurer is None else _field_level_status(facts, incident, insurer, category)
    if scoped is not None:
        return scoped
    return _field_level_status(facts, incident, None, category) or "unknown"


def _categories(facts: list[Fact], incident: str) -> set[str]:
    """Every category mentioned by a field fact of the incident, at any level."""
    return {
        category
        for fact in facts
        if fact["kind"] in FIELD_RULINGS and fact.get("incident") == incident
        for category in fact["categories"]
    }


def _members(facts: list[Fact], insurer: str) -> dict[str, dict[str, Any]]:
    """SPEC §3 `members-enrolled`: "re-enrolling a `ref` replaces its attributes". Facts are
    in knowledge order, so a later entry overwrites (within one fact, the later entry)."""
    roster: dict[str, dict[str, Any]] = {}
    for fact in facts:
        if fact["kind"] == "members-enrolled" and fact["insurer"] == insurer:
            for member in fact["members"]:
                roster[member["ref"]] = dict(member)
    return roster


def _member_status(facts: list[Fact], incident: str, insurer: str, ref: str) -> str:
    """SPEC §5: "the latest member-level finding if any (`confirmed` or `ruled-out`); else
    `presumed` when the insurer is `affected` and the member matches the insurer's latest
    scope; else `not-affected`". A ref not enrolled as known is `not-affected`."""
    member = _members(facts, insurer).get(ref)
    if member is None:
        return "not-affected"
    finding = latest(
        facts,
        lambda fact: (
            fact["kind"] in MEMBER_FINDINGS
            and fact.get("incident") == incident
            and fact.get("insurer") == insurer
            and ref in fact["refs"]
        ),
    )
    if finding is not None:
        return MEMBER_FINDINGS[finding["kind"]]
    scope = latest(
        facts,
        lambda fact: (
            fact["kind"] == "scope-defined" and fact.get("incident") == incident and fact.get("insurer") == insurer
        ),
    )
    if _insurer_status(facts, incident, insurer) == "affected" and matches_scope(member, scope):
        return "presumed"
    return "not-affected"


def _member_fields(facts: list[Fact], incident: str, insurer: str, ref: str) -> list[str]:
    """SPEC §5: "the categories `exposed` for (incident, the member's insurer) when the member
    is `confirmed` or `presumed`; none otherwise"."""
    if _member_status(facts, incident, insurer, ref) not in AFFECTED_MEMBER_STATUSES:
        return []
    return sorted(
        category
        for category in _categories(facts, incident)
        if _field_status(facts, incident, insurer, category) == "exposed"
    )


NAMING_KINDS = ("insurer-informed", "insurer-confirmed-affected", "insurer-ruled-out", "members-enrolled")


def _known_insurers(facts: list[Fact]) -> set[str]:
    """SPEC §3: "An insurer becomes known to the ledger through any fact that names it
    (`insurer-informed`, `insurer-confirmed-affected`, `insurer-ruled-out`, `members-enrolled`)":
    every insurer of such a visible fact, any incident (a visible scope or field fact alone
    does not make an insurer known)."""
    return {fact["insurer"] for fact in facts if fact["kind"] in NAMING_KINDS and fact.get("insurer") is not None}


def _summary(facts: list[Fact], incident: str) -> dict[str, Any]:
    # Asked before any of its facts is known, an incident is "not known yet", not zeros.
    if not any(fact.get("incident") == incident for fact in facts):
        return {"incident": incident, "known": False}
    statuses = {insurer: _insurer_status(facts, incident, insurer) for insurer in _known_insurers(facts)}

    def insurers_with(status: str) -> list[str]:
        return sorted(insurer for insurer, known in statuses.items() if known == status)

    # SPEC §5 counts: "`people` (distinct NIRs; a member without NIR counts as one person)".
    member_statuses: list[tuple[str, Any]] = []  # (status, nir) per enrolled member
    enrolling = {fact["insurer"] for fact in facts if fact["kind"] == "members-enrolled"}
    for insurer in sorted(enrolling):
        for ref, member in _members(facts, insurer).items():
            status = _member_status(facts, incident, insurer, ref)
            member_statuses.append((status, member.get("nir")))
    affected_nirs = [nir for status, nir in member_statuses if status in AFFECTED_MEMBER_STATUSES]
    confirmed = sum(1 for status, _ in member_statuses if status == "confirmed")
    presumed = sum(1 for status, _ in member_statuses if status == "presumed")

    # SPEC §5 incident-wide fields: "`exposed` for at least one affected insurer (or
    # incident-wide when none is affected yet); `ruled_out` when ruled out for every affected
    # insurer; `suspected` when suspected somewhere and exposed nowhere".
    places: list[str | None] = list(insurers_with("affected")) or [None]
    exposed: list[str] = []
    ruled_out: list[str] = []
    suspected: list[str] = []
    for category in sorted(_categories(facts, incident)):
        found = [_field_status(facts, incident, place, category) for place in places]
        if "exposed" in found:
            exposed.append(category)
        elif "suspected" in found:
            suspected.append(category)
        if all(status == "ruled-out" for status in found):
            ruled_out.append(category)

    return {
        "incident": incident,
        "insurers": {
            "affected": insurers_with("affected"),
            "ruled_out": insurers_with("ruled-out"),
            "informed": insurers_with("informed"),
            "unknown": insurers_with("unknown"),
        },
        "members": {
            "confirmed": confirmed,
            "presumed": presumed,
            "ruled_out": sum(1 for status, _ in member_statuses if status == "ruled-out"),
            "affected": confirmed + presumed,
            "people": len({nir for nir in affected_nirs if nir}) + sum(1 for nir in affected_nirs if not nir),
        },
        "fields": {"exposed": exposed, "ruled_out": ruled_out, "suspected": suspected},
    }
