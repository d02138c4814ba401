"""The lookup service's request and response bodies (msgspec: validated on the way in,
documented in the OpenAPI schema), its refusals, one lookup item read, and the summary one insurer's token may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final

import msgspec
from msgspec import UNSET

from domain import nir as nir_rules
from domain.answers import NotKnown
from projections import lookups as member_lookups
from projections import queries
from projections.db import Db
from projections.lookups import Lookup, Membership
from projections.queries import Horizon
from service.limits import retry_after
from service.tokens import Token

MAX_LOOKUPS: Final = member_lookups.MAX_BATCH


# -- the wire types (msgspec: Litestar decodes, validates and documents them) ----------------


class LookupItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One lookup: `{"nir": ...}` or `{"ref": ...}` (with `insurer` for an all-insurer token).
    A key may be absent, never null."""

    nir: str | msgspec.UnsetType = msgspec.UNSET
    ref: str | msgspec.UnsetType = msgspec.UNSET
    insurer: str | msgspec.UnsetType = msgspec.UNSET


class LookupRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /v1/lookups`: up to 1,000 lookups, answered in order."""

    lookups: Annotated[list[LookupItem], msgspec.Meta(max_length=MAX_LOOKUPS)]
    as_known_on: str | None = None


class LookupResult(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The memberships one lookup found (none: an empty list), or its error."""

    memberships: list[Membership] | None = None
    error: str | None = None


INVALID_NIR: Final = LookupResult(error="invalid NIR")
"""The answer to every invalid NIR (the same object: it says nothing about the NIR)."""


class LookupResponse(msgspec.Struct, kw_only=True):
    """The answers, in request order."""

    as_known_on: str
    results: list[LookupResult]


class InsurerGroups(msgspec.Struct, kw_only=True):
    """Insurers by status (a scoped token sees its own insurer only)."""

    affected: list[str]
    ruled_out: list[str]
    informed: list[str]
    unknown: list[str]


class MemberCounts(msgspec.Struct, kw_only=True):
    """SPEC §5 counts (of the token's insurer only, for a scoped token)."""

    confirmed: int
    presumed: int
    ruled_out: int
    affected: int
    people: int


class FieldGroups(msgspec.Struct, kw_only=True):
    """Field categories by status."""

    exposed: list[str]
    ruled_out: list[str]
    suspected: list[str]


class SummaryResponse(msgspec.Struct, kw_only=True):
    """`GET /v1/incidents/{id}/summary`: SPEC §7 `summary`, restricted to the token's insurer."""

    incident: str
    as_known_on: str
    insurers: InsurerGroups
    members: MemberCounts
    fields: FieldGroups


class Health(msgspec.Struct, kw_only=True):
    """`GET /v1/health`: the position answered from and how many facts it lags behind."""

    status: str
    position: int
    lag: int


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every refusal: 400, 401, 404, 429."""

    error: str


class Refused(Exception):
    """A request the service refuses: HTTP `status`, a message, and for 429 the wait."""

    def __init__(self, status: int, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = {"Retry-After": str(retry_after(wait))} if wait is not None else {}
        if status == 401:
            self.headers["WWW-Authenticate"] = 'Bearer realm="exposure"'


def parse_lookups(items: Sequence[LookupItem], token: Token, key: bytes) -> list[Lookup | None]:
    """Each item as a `Lookup`: its NIR validated and pseudonymised (all of them in one pass,
    `domain.nir.pseudonymise_each`), None for an invalid NIR; 400 for an item that is neither."""
    nirs: list[str] = []
    for number, item in enumerate(items):
        nir, ref = item.nir, item.ref
        if (nir is UNSET) == (ref is UNSET):
            raise Refused(400, f"lookups[{number}]: give exactly one of nir or ref")
        if nir is not UNSET:
            if item.insurer is not UNSET:
                raise Refused(400, f"lookups[{number}]: insurer goes with ref, not with nir")
            nirs.append(nir)
        elif token.insurer is None and item.insurer is UNSET:
            raise Refused(400, f"lookups[{number}]: an all-insurer token names the insurer of each ref")
    pseudonyms = iter(nir_rules.pseudonymise_each(nirs, key))
    parsed: list[Lookup | None] = []
    for item in items:
        if item.nir is not UNSET:
            pseudonym = next(pseudonyms)
            parsed.append(Lookup(pseudonym) if pseudonym is not None else None)  # positional: `nir`
        else:
            insurer = item.insurer
            parsed.append(Lookup(ref=item.ref or None, insurer=insurer if isinstance(insurer, str) else token.insurer))
    return parsed


async def every_insurer_summary(db: Db, incident: str, h: Horizon) -> SummaryResponse:
    """SPEC §7 `summary` as an all-insurer token sees it: `queries.summary`'s answer, read by its
    attributes. Before the incident's first fact is known (the CLI's `"known": false`), every
    insurer known then is `unknown` and nothing is counted or exposed, as a scoped token sees it."""
    found = await queries.summary(db, incident, h)
    if isinstance(found, NotKnown):
        unknown = sorted(await queries.known_insurers(db, h))
        return SummaryResponse(
            incident=incident,
            as_known_on=h.known_on,
            insurers=InsurerGroups(affected=[], ruled_out=[], informed=[], unknown=unknown),
            members=MemberCounts(confirmed=0, presumed=0, ruled_out=0, affected=0, people=0),
            fields=FieldGroups(exposed=[], ruled_out=[], suspected=[]),
        )
    return msgspec.convert(found, SummaryResponse, from_attributes=True)


async def insurer_summary(db: Db, incident: str, insurer: str, h: Horizon) -> SummaryResponse:
    """SPEC §7 `summary` as one insurer's token may see it: its own status, counts and fields."""
    await queries.require_incident(db, incident)
    view = await queries.incident_view(db, incident, h)
    groups: dict[str, list[str]] = {"affected": [], "ruled_out": [], "informed": [], "unknown": []}
    groups[view.insurer_status(insurer).replace("-", "_")].append(insurer)
    counts = await queries.member_counts(db, view, h, insurer)
    counts.pop("memberships")
    statuses = {c: view.field_status(insurer, c) for c in sorted(view.categories)}
    return SummaryResponse(
        incident=incident,
        as_known_on=h.known_on,
        insurers=InsurerGroups(**groups),
        members=MemberCounts(**counts),
        fields=FieldGroups(
            exposed=[c for c, s in statuses.items() if s == "exposed"],
            ruled_out=[c for c, s in statuses.items() if s == "ruled-out"],
            suspected=[c for c, s in statuses.items() if s == "suspected"],
        ),
    )
