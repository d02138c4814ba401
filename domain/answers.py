"""The answers the command line renders, as frozen msgspec Structs (SPEC §7).

A renderer reads `answer.members.affected`, not `answer["members"]["affected"]`, so mypy
checks every renderer against what the question returns. `msgspec.to_builtins(answer)`
gives the JSON value of SPEC §7: the fields in declaration order (which is the keys'
order on output), and a field left `UNSET` is no key at all (`as_recorded_at` without
`--as-recorded-at`). An answer about an incident not known yet at the horizon is a
`NotKnown`. Times are UTC ISO 8601 strings, as printed.

The queries (`projections.queries`, `projections.history`) build these Structs
directly, so mypy checks each query against its answer as it checks each renderer.
"""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType


class Answer(Struct, frozen=True, forbid_unknown_fields=True):
    """Every answer: frozen, and no key that its type does not name; each subclass is
    keyword-only, so that its fields can be declared in output order."""


class NotKnown(Answer, frozen=True, kw_only=True):
    """The answer about an incident asked before any of its facts is known: `"known": false`."""

    incident: str
    insurer: str | UnsetType = UNSET
    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET
    known: bool


# -- summary ------------------------------------------------------------------------------


class InsurersByStatus(Answer, frozen=True, kw_only=True):
    affected: list[str]
    ruled_out: list[str]
    informed: list[str]
    unknown: list[str]


class MemberCounts(Answer, frozen=True, kw_only=True):
    """Affected members: `confirmed` + `presumed`; `people`: distinct NIRs among them."""

    confirmed: int
    presumed: int
    ruled_out: int
    affected: int
    people: int


class SummaryFields(Answer, frozen=True, kw_only=True):
    exposed: list[str]
    ruled_out: list[str]
    suspected: list[str]


class Summary(Answer, frozen=True, kw_only=True):
    """`exposure summary`: insurers by status, member counts, incident-wide fields."""

    incident: str
    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET
    insurers: InsurersByStatus
    members: MemberCounts
    fields: SummaryFields


# -- insurer ------------------------------------------------------------------------------


class Scope(Answer, frozen=True, kw_only=True):
    """The members a `scope-defined` fact names (null: every value)."""

    contracts: list[str] | None
    roles: list[str] | None
    enrolled_from: str | None
    enrolled_until: str | None
    fact: str


class Memberships(Answer, frozen=True, kw_only=True):
    """An insurer's member counts: its `memberships` on rosters, then as `MemberCounts`."""

    memberships: int
    confirmed: int
    presumed: int
    ruled_out: int
    affected: int
    people: int


class Insurer(Answer, frozen=True, kw_only=True):
    """`exposure insurer`: status, scope, fields, counts, notification dates."""

    incident: str
    insurer: str
    name: str | None
    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET
    status: str
    because: list[str]
    estimate: int | None
    scope: Scope | None
    fields: dict[str, str]
    exposed: list[str]
    implied: list[str]
    members: Memberships
    informed_at: str | None
    authority_notified_at: str | None
    members_notified_at: str | None


# -- member -------------------------------------------------------------------------------


class MemberIncident(Answer, frozen=True, kw_only=True):
    """One membership in one incident: its status, fields, implied fields and the facts behind."""

    incident: str
    status: str
    fields: list[str]
    implied: list[str]
    because: list[str]


class Membership(Answer, frozen=True, kw_only=True):
    insurer: str
    ref: str
    incidents: list[MemberIncident]


class Member(Answer, frozen=True, kw_only=True):
    """`exposure member`: every membership found, per incident."""

    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET
    memberships: list[Membership]


# -- diff ---------------------------------------------------------------------------------


class InsurerChanges(Answer, frozen=True, kw_only=True):
    newly_affected: list[str]
    newly_ruled_out: list[str]


class FieldChanges(Answer, frozen=True, kw_only=True):
    newly_exposed: list[str]
    newly_ruled_out: list[str]


class MemberChanges(Answer, frozen=True, kw_only=True):
    newly_affected: int
    no_longer_affected: int
    fields_changed: int


class Diff(Answer, frozen=True, kw_only=True, rename={"start": "from", "end": "to"}):
    """`exposure diff`: what changed from one knowledge date (`from`) to another (`to`)."""

    incident: str
    start: str
    end: str
    as_recorded_at: str | UnsetType = UNSET
    insurers: InsurerChanges
    fields: FieldChanges
    members: MemberChanges


# -- timeline -----------------------------------------------------------------------------


class InsurersThen(Answer, frozen=True, kw_only=True):
    affected: list[str]
    ruled_out: list[str]
    informed: list[str]


class TimelineEntry(Answer, frozen=True, kw_only=True):
    """One knowledge time that changed the incident's answer, and the answer from then on."""

    known_on: str
    facts: list[str]
    retracted: list[str]
    members_affected: int
    fields_exposed: list[str]
    insurers: InsurersThen


# -- obligations --------------------------------------------------------------------------


class Rule(Answer, frozen=True, kw_only=True):
    """A versioned deadline rule (`domain.obligations.Rule.as_json`)."""

    id: str
    article: str
    hours: int
    description: str
    valid_from: str | None


class Duty(Answer, frozen=True, kw_only=True):
    """One insurer's notification duty: awareness, deadline, notices, status."""

    insurer: str
    insurer_status: str
    aware_at: str
    aware_because: str
    deadline: str
    authority_notified_at: str | None
    members_notified_at: str | None
    status: str
    members_never_notified: int
    members_notified_before_change: int


class Obligations(Answer, frozen=True, kw_only=True):
    """`exposure obligations`: the duties of every insurer, and the insurers ruled out."""

    incident: str
    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET
    rules: str
    rule: Rule
    insurers: list[Duty]
    ruled_out: list[str]
    members_never_notified: int
    members_notified_before_change: int


class AsOf(Answer, frozen=True, kw_only=True):
    """The horizon of an answer: as known on X (as recorded at Y)."""

    as_known_on: str
    as_recorded_at: str | UnsetType = UNSET


# -- notifications in the timeline ----------------------------------------------------------


class NotificationShown(Answer, frozen=True, kw_only=True):
    """An `authority-notified` (`authority`, `phase`) or `members-notified` (`channel`,
    `every_member`) fact, as the human timeline shows it among the knowledge changes."""

    known_on: str
    occurred_on: str
    id: str
    kind: str
    insurer: str | None
    retracted: bool
    authority: str | None = None
    phase: str | None = None
    channel: str | None = None
    every_member: bool = False


# -- init -----------------------------------------------------------------------------------


class Initialised(Answer, frozen=True, kw_only=True):
    """`exposure init`: where the store and its key file are, and whether they are new."""

    store: str
    key_file: str
    timezone: str
    encrypted: bool
    created: bool
