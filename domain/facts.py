"""The facts: immutable, past-tense events, one frozen msgspec Struct per kind.

Schema evolution rules (stored facts are forever):
- never rename or retype a stored field, never reuse a `kind` tag;
- a new field gets a default, so that every fact ever stored still decodes;
- a stored field this version does not know is ignored when decoding, so that an older
  reader still reads a newer fact (input keys are checked by `parse`, not here);
- `tests/domain/fixtures/facts-v1.jsonl` holds encoded facts of each released schema and
  a test decodes them.

Every fact carries three times: `occurred_on` (valid time), `known_on`
(knowledge time) and `recorded_at` (system time, set by the ledger on append).
Members' social security numbers appear only as keyed pseudonyms (`nir`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final, Literal

import msgspec

Confidence = Literal["low", "medium", "high"]
Role = Literal["holder", "dependant"]
Phase = Literal["initial", "complementary"]
Risk = Literal["normal", "high"]
MeasureKind = Literal["containment", "mitigation", "communication", "other"]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, e.g. FR."""


class Member(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One insured person in one insurer's records. `nir` is a pseudonym, never the NIR."""

    ref: str
    role: Role | None = None
    contract: str | None = None
    from_: date | None = msgspec.field(default=None, name="from")
    until: date | None = None
    nir: str | None = None


class Fact(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    tag_field="kind",
):
    """Keys common to every fact."""

    id: str
    known_on: datetime
    occurred_on: datetime
    recorded_at: datetime | None = None
    by: str = ""
    source: str | None = None
    confidence: Confidence | None = None
    note: str | None = None


class AttackDiscovered(Fact, tag="attack-discovered", frozen=True):
    """Opens an incident; `occurred_on` is when the attack began."""

    incident: str
    operator: str
    title: str | None = None
    action: tuple[str, ...] | None = None
    """VERIS action varieties, `CATEGORY.VARIETY` (e.g. `hacking.Use of stolen creds`)."""
    vector: tuple[str, ...] | None = None
    """VERIS action vectors, `CATEGORY.VECTOR` (e.g. `hacking.Web application`)."""


class InsurerInformed(Fact, tag="insurer-informed", frozen=True):
    """The operator informed this insurer: the controller's 72-hour clock starts."""

    incident: str
    insurer: str
    name: str | None = None


class InsurerConfirmedAffected(Fact, tag="insurer-confirmed-affected", frozen=True):
    """The insurer's members' data was exposed."""

    incident: str
    insurer: str
    name: str | None = None
    estimate: int | None = None


class InsurerRuledOut(Fact, tag="insurer-ruled-out", frozen=True):
    """The insurer is confirmed not affected."""

    incident: str
    insurer: str


class ScopeDefined(Fact, tag="scope-defined", frozen=True):
    """Only the insurer's members matching every given criterion are exposed."""

    incident: str
    insurer: str
    contracts: tuple[str, ...] | None = None
    roles: tuple[Role, ...] | None = None
    enrolled_from: date | None = None
    enrolled_until: date | None = None


class FieldSuspected(Fact, tag="field-suspected", frozen=True):
    """These categories may have been exposed."""

    incident: str
    categories: tuple[str, ...]
    insurer: str | None = None
    basis: str | None = None


class FieldRuledIn(Fact, tag="field-ruled-in", frozen=True):
    """These categories were exposed."""

    incident: str
    categories: tuple[str, ...]
    insurer: str | None = None
    basis: str | None = None


class FieldRuledOut(Fact, tag="field-ruled-out", frozen=True):
    """These categories were not exposed."""

    incident: str
    categories: tuple[str, ...]
    insurer: str | None = None
    basis: str | None = None


class MembersEnrolled(Fact, tag="members-enrolled", frozen=True):
    """A roster: registers members; re-enrolling a ref replaces its attributes."""

    insurer: str
    members: tuple[Member, ...]


class MembersConfirmedAffected(Fact, tag="members-confirmed-affected", frozen=True):
    """Member-level finding: these members' data was exposed."""

    incident: str
    insurer: str
    refs: tuple[str, ...]


class MembersRuledOut(Fact, tag="members-ruled-out", frozen=True):
    """Member-level finding: these members' data was not exposed."""

    incident: str
    insurer: str
    refs: tuple[str, ...]


class AuthorityNotified(Fact, tag="authority-notified", frozen=True):
    """A supervisory authority (the CNIL) was notified."""

    incident: str
    authority: str
    insurer: str | None = None
    reference: str | None = None
    phase: Phase | None = None


class MembersNotified(Fact, tag="members-notified", frozen=True):
    """Members were told; without `refs`, every member affected as known at that moment."""

    incident: str
    insurer: str
    refs: tuple[str, ...] | None = None
    channel: str | None = None


class FactRetracted(Fact, tag="fact-retracted", frozen=True):
    """An earlier fact was wrong: it stops counting from this fact's `known_on`."""

    fact: str
    reason: str | None = None


class CategoryDefined(Fact, tag="category-defined", frozen=True):
    """Adds a field category to the vocabulary."""

    category: str
    label: str
    risk: Risk = "normal"
    special: bool = False


class MeasureTaken(Fact, tag="measure-taken", frozen=True):
    """A measure taken or proposed to contain the breach or mitigate its effects (GDPR Art. 33(3)(d)).

    SPEC §3 names its type `kind`, which is every fact's tag: it is stored as `measure_kind`.
    """

    incident: str
    measure: str
    insurer: str | None = None
    measure_kind: MeasureKind | None = None


class InsurerDescribed(Fact, tag="insurer-described", frozen=True):
    """The controller's contact point for notifications (GDPR Art. 33(3)(b)); the latest wins."""

    insurer: str
    name: str | None = None
    dpo_contact: str | None = None
    country: Country | None = None


AnyFact = (
    AttackDiscovered
    | InsurerInformed
    | InsurerConfirmedAffected
    | InsurerRuledOut
    | ScopeDefined
    | FieldSuspected
    | FieldRuledIn
    | FieldRuledOut
    | MembersEnrolled
    | MembersConfirmedAffected
    | MembersRuledOut
    | AuthorityNotified
    | MembersNotified
    | FactRetracted
    | CategoryDefined
    | MeasureTaken
    | InsurerDescribed
)

KINDS: Final[dict[str, type[Fact]]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (
        AttackDiscovered,
        InsurerInformed,
        InsurerConfirmedAffected,
        InsurerRuledOut,
        ScopeDefined,
        FieldSuspected,
        FieldRuledIn,
        FieldRuledOut,
        MembersEnrolled,
        MembersConfirmedAffected,
        MembersRuledOut,
        AuthorityNotified,
        MembersNotified,
        FactRetracted,
        CategoryDefined,
        MeasureTaken,
        InsurerDescribed,
    )
}

TOPIC_PREFIX: Final = "exposure:"
"""A stored fact's topic is this prefix and its kind (`exposure:insurer-informed`)."""

FIELD_STATUS: Final[dict[type[Fact], str]] = {
    FieldSuspected: "suspected",
    FieldRuledIn: "exposed",
    FieldRuledOut: "ruled-out",
}

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyFact] = msgspec.json.Decoder(AnyFact)


def kind_of(fact: Fact) -> str:
    """The fact's `kind` tag, e.g. `insurer-informed`."""
    return str(type(fact).__struct_config__.tag)


def encode(fact: Fact) -> bytes:
    """The canonical JSON bytes of a fact (fields in declaration order, defaults omitted)."""
    return _encoder.encode(fact)


def decode(data: bytes) -> AnyFact:
    """A fact from its canonical JSON bytes."""
    return _decoder.decode(data)


def to_builtins(fact: Fact) -> dict[str, object]:
    """The fact as plain JSON-ready data (dates and times as ISO 8601 strings)."""
    data = msgspec.to_builtins(fact)
    if not isinstance(data, dict):  # pragma: no cover - a Struct is always an object
        raise TypeError("a fact encodes to an object")
    return {"kind": kind_of(fact), **{k: v for k, v in data.items() if k != "kind"}}


def incident_of(fact: Fact) -> str | None:
    """The incident a fact is about, if any."""
    value = getattr(fact, "incident", None)
    return value if isinstance(value, str) else None


def insurer_of(fact: Fact) -> str | None:
    """The insurer a fact is about, if any."""
    value = getattr(fact, "insurer", None)
    return value if isinstance(value, str) else None
