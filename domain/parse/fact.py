"""One fact from a JSON object: kind and keys, times in the ledger's zone (never in the
future, never before `occurred_on`), types, and errors worded for the person who typed it.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import msgspec

from domain import times, veris_vocabulary
from domain.errors import InvalidFact, InvalidTime
from domain.facts import KINDS, AttackDiscovered, Fact, Member, MembersEnrolled
from domain.parse.members import members_of
from domain.parse.text import clean_value, json_type, key_names

DEFAULTED: Final = frozenset({"id", "known_on", "occurred_on", "by"})
"""Common keys the ledger fills in when absent; never compared for idempotency when absent."""

_VERIS: Final = {key: frozenset(veris_vocabulary.allowed(key)) for key in ("action", "vector")}


@dataclass(frozen=True, slots=True)
class Context:
    """What parsing needs from outside: the ledger's zone and clock, who records, the NIR key."""

    tz: ZoneInfo
    now: datetime
    actor: str
    nir_key: bytes
    new_id: Callable[[], str]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A fact and the keys the user actually supplied (for idempotent re-imports)."""

    fact: Fact
    given: frozenset[str]


@functools.cache
def input_keys(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) input keys of a kind, as SPEC §3 names them."""
    cls = KINDS[kind]
    required: list[str] = []
    optional: list[str] = []
    for info in msgspec.structs.fields(cls):
        name = info.encode_name
        if name == "recorded_at":
            continue
        if info.required and name not in DEFAULTED:
            required.append(name)
        else:
            optional.append(name)
    if cls is AttackDiscovered:
        optional.remove("occurred_on")
        required.append("occurred_on")
    return tuple(required), tuple(optional)


def parse_fact(obj: object, ctx: Context) -> Parsed:
    """Validate one fact given as a JSON-like object; raise `InvalidFact` naming the problem."""
    if not isinstance(obj, Mapping):
        raise InvalidFact(f"expected a JSON object, got {json_type(obj)}")
    kind = obj.get("kind")
    if kind is None:
        raise InvalidFact("missing required key 'kind'")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidFact(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    required, optional = input_keys(kind)
    allowed = {"kind", *required, *optional}
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise InvalidFact(f"unknown key{'s' if len(unknown) > 1 else ''} {key_names(unknown)} for kind {kind!r}")
    absent = [k for k in required if obj.get(k) is None]
    if absent:
        raise InvalidFact(f"missing required key{'s' if len(absent) > 1 else ''} {key_names(absent)} for kind {kind!r}")
    given = frozenset(k for k, v in obj.items() if k != "kind" and v is not None)
    data: dict[str, Any] = {k: clean_value(k, v) for k, v in obj.items() if v is not None}
    _resolve_common(data, ctx, kind)
    if kind == "members-enrolled":
        data["members"] = members_of(data["members"], ctx.nir_key)
    for key in ("categories", "refs", "contracts", "roles", "action", "vector"):
        if key in data:
            data[key] = _list_of_text(key, data[key])
    for key in ("action", "vector"):
        unknown = [v for v in data.get(key, ()) if v not in _VERIS[key]]
        if unknown:
            what = ("a VERIS 1.4 action variety", "VERIS 1.4 action varieties", "hacking.Use of stolen creds")
            if key == "vector":
                what = ("a VERIS 1.4 action vector", "VERIS 1.4 action vectors", "hacking.Web application")
            raise InvalidFact(
                f"{key}: {', '.join(map(repr, unknown))} {'is not ' + what[0] if len(unknown) == 1 else 'are not '}"
                f"{'' if len(unknown) == 1 else what[1]} (CATEGORY.VALUE, e.g. {what[2]}; see docs/VERIS.md)"
            )
    if "estimate" in data and (
        isinstance(data["estimate"], bool) or not isinstance(data["estimate"], int) or data["estimate"] < 0
    ):
        raise InvalidFact(f"estimate: expected a whole number >= 0, got {data['estimate']!r}")
    if "measure" in data and (not isinstance(data["measure"], str) or not data["measure"].strip()):
        raise InvalidFact("measure: expected a non-empty text describing the measure")
    fact = _convert(data, KINDS[kind])
    _check_periods(fact)
    return Parsed(fact=fact, given=given)


def _resolve_common(data: dict[str, Any], ctx: Context, kind: str) -> None:
    """Fill `id`, `known_on`, `occurred_on`, `by`; check the times."""
    if "id" not in data:
        data["id"] = ctx.new_id()
    known = times.parse_instant(data["known_on"], "known_on", ctx.tz) if "known_on" in data else ctx.now
    if known > ctx.now:
        raise InvalidTime(
            f"known_on {times.to_minute(known, ctx.tz)} is in the future:"
            f" now is {times.to_minute(ctx.now, ctx.tz)} ({ctx.tz.key})"
        )
    # Absent, `occurred_on` is the `known_on` instant itself (a date-only `known_on` is
    # already the start of its day): never a time the user did not enter.
    occurred = times.parse_instant(data["occurred_on"], "occurred_on", ctx.tz) if "occurred_on" in data else known
    if known < occurred:
        raise InvalidTime(
            f"known_on {times.to_minute(known, ctx.tz)} is before occurred_on"
            f" {times.to_minute(occurred, ctx.tz)} ({ctx.tz.key})"
        )
    data["known_on"] = known
    data["occurred_on"] = occurred
    data.setdefault("by", ctx.actor)
    if kind == "fact-retracted" and data["fact"] == data["id"]:
        raise InvalidFact("a fact cannot retract itself")


def _convert(data: dict[str, Any], cls: type[Fact]) -> Fact:
    try:
        return msgspec.convert(data, type=cls, from_attributes=False, str_keys=True)
    except msgspec.ValidationError as problem:
        raise InvalidFact(_reword(str(problem), cls)) from None


def _allowed(cls: type[Fact], path: str) -> tuple[str, ...]:
    """The values a Literal-typed key of `cls` allows (`roles[0]` is an item of `roles`)."""
    name = path.split("[", maxsplit=1)[0]
    hints = typing.get_type_hints(cls)
    for info in msgspec.structs.fields(cls):
        if info.encode_name == name:
            return _literals(hints[info.name])
    return ()


def _literals(hint: object) -> tuple[str, ...]:
    if typing.get_origin(hint) is Literal:
        return tuple(str(v) for v in typing.get_args(hint))
    found: list[str] = []
    for arg in typing.get_args(hint):
        found.extend(v for v in _literals(arg) if v not in found)
    return tuple(found)


def _check_periods(fact: Fact) -> None:
    start = getattr(fact, "enrolled_from", None)
    end = getattr(fact, "enrolled_until", None)
    if isinstance(start, date) and isinstance(end, date) and end < start:
        raise InvalidFact(f"enrolled_until {end} is before enrolled_from {start}")


def _list_of_text(key: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise InvalidFact(f"{key}: expected a non-empty list")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidFact(f"{key}: expected a list of non-empty texts, got {item!r}")
        stripped = item.strip()
        if stripped in items:
            raise InvalidFact(f"{key}: {stripped!r} appears twice")
        items.append(stripped)
    return items


def _reword(message: str, cls: type[Fact] | None = None) -> str:
    """msgspec's `Expected X, got Y - at $.key` as `key: expected X, got Y`; an enum error
    as `key: 'X' is not one of a, b, c`."""
    text, _, where = message.partition(" - at ")
    path = where.strip("`").removeprefix("$.").removeprefix("$") if where else ""
    if text.startswith("Invalid enum value ") and cls is not None and path:
        allowed = _allowed(cls, path)
        if allowed:
            return f"{path}: {text.removeprefix('Invalid enum value ')} is not one of {', '.join(allowed)}"
    text = text.replace("`", "")
    text = text[:1].lower() + text[1:]
    return f"{path}: {text}" if path else text


def enrolment(
    insurer: str,
    members: tuple[Member, ...],
    fact_id: str,
    ctx: Context,
    known_on: str | None,
    *,
    source: str | None = None,
    note: str | None = None,
) -> Parsed:
    """A `members-enrolled` fact from already-checked members (the roster import path)."""
    data: dict[str, Any] = {"kind": "members-enrolled", "id": fact_id, "insurer": clean_value("insurer", insurer)}
    if known_on is not None:
        data["known_on"] = known_on
    _resolve_common(data, ctx, "members-enrolled")
    extra = {k: clean_value(k, v) for k, v in (("source", source), ("note", note)) if v is not None}
    fact = MembersEnrolled(
        id=data["id"],
        known_on=data["known_on"],
        occurred_on=data["occurred_on"],
        by=data["by"],
        insurer=data["insurer"],
        members=members,
        **extra,
    )
    given = frozenset({"id", "insurer", "members", *extra} | ({"known_on"} if known_on is not None else set()))
    return Parsed(fact=fact, given=given)
