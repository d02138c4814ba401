"""The draft of a notification to the authority (GDPR Art. 33(3)) as frozen msgspec Structs.

`domain.notify.draft` builds a `Draft`; `notify authority --format json` prints
`msgspec.to_builtins(draft)` (the fields in declaration order are the keys' order, so the
JSON is the same bytes as the dict the draft used to be) and `cli/render/notify.py` reads
its attributes, so mypy checks the renderer against the draft. Every statement carries the
ids of the facts behind it (`because`); times are UTC ISO 8601 strings.
"""

from __future__ import annotations

from domain.answers import Answer, Diff


class Timing(Answer, frozen=True, kw_only=True):
    """When the controller became aware, its deadline and its first notification (all None
    while nothing tells when it became aware)."""

    aware_at: str | None = None
    deadline: str | None = None
    status: str | None = None
    """`on-time`, `late`, `overdue` or `pending` (`domain.obligations.status`)."""
    notified_at: str | None = None
    delay_reason: str | None = None
    """The first notification's note, when it was late."""
    aware_because: list[str]
    notified_because: list[str]
    because: list[str]


class Nature(Answer, frozen=True, kw_only=True):
    """The attack: operator, title, when it began and was discovered."""

    operator: str | None
    title: str | None
    attack_began: str | None
    discovered: str | None
    because: list[str]


class Counts(Answer, frozen=True, kw_only=True):
    """The controller's affected people and memberships (`domain.notify.COUNT_KEYS`)."""

    people: int
    memberships: int
    holders: int
    dependants: int
    confirmed: int
    presumed: int


class DataSubjects(Counts, frozen=True, kw_only=True):
    """The counts, the insurer's own estimate and the facts behind them."""

    estimate: int | None
    because: list[str]


class Categories(Answer, frozen=True, kw_only=True):
    """The field categories by status, and the fact behind each category's status."""

    exposed: list[str]
    implied: list[str]
    suspected: list[str]
    ruled_out: list[str]
    because: list[str]
    rulings: dict[str, str]


class Consequence(Answer, frozen=True, kw_only=True):
    """A likely consequence (`domain.consequences`) in both languages."""

    id: str
    categories: list[str]
    status: str
    """`exposed`: all its categories are exposed; `suspected`: some are only suspected."""
    text: str
    text_fr: str
    because: list[str]


class MeasureStated(Answer, frozen=True, kw_only=True):
    """A `measure-taken` fact (incident-wide or the controller's own)."""

    id: str
    text: str
    kind: str | None
    known_on: str
    occurred_on: str
    insurer: str | None


class Previous(Answer, frozen=True, kw_only=True):
    """The controller's latest notification to the authority (a complementary draft's reference)."""

    id: str
    notified_at: str
    known_on: str
    phase: str | None
    reference: str | None


class CategoryMoved(Answer, frozen=True, kw_only=True):
    category: str
    before: str
    after: str
    because: list[str]


class CountsMoved(Answer, frozen=True, kw_only=True):
    before: Counts
    after: Counts


class Changes(Diff, frozen=True, kw_only=True):
    """A complementary draft's news: the `diff` answer since the last notification, then this
    controller's own changes (None or empty where nothing changed)."""

    categories: list[CategoryMoved]
    data_subjects: CountsMoved | None
    measures: list[str]
    consequences: list[str]
    contact: str | None


class Draft(Answer, frozen=True, kw_only=True):
    """`notify authority`: the Art. 33(3) draft of one controller in one incident, as known on X.
    `gaps` names what a person must still fill in (`domain.notify.GAPS`)."""

    incident: str
    insurer: str
    name: str | None
    phase: str
    as_known_on: str
    rules: str
    insurer_status: str
    aware_at: str | None
    deadline: str | None
    status: str | None
    timing: Timing
    nature: Nature
    data_subjects: DataSubjects
    categories: Categories
    consequences: list[Consequence]
    measures: list[MeasureStated]
    contact: str | None
    contact_because: list[str]
    previous: Previous | None
    changes: Changes | None
    because: list[str]
    gaps: list[str]


class FactCited(Answer, frozen=True, kw_only=True):
    """A fact a draft cites, for its appendix."""

    kind: str
    known_on: str
    source: str | None
