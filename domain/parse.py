"""From user input (a JSON object or command-line flags) to a validated `Fact`.

Parsing checks everything a single fact can be checked for on its own: kind and
keys, types, times (never in the future, never before `occurred_on`), NIRs (then
replaced by their pseudonym). What needs the ledger's knowledge (does the
incident exist, is the ref enrolled) is checked by `domain.rules`.
"""

from __future__ import annotations

import functools
import re
import typing
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import msgspec

from domain import nir as nir_rules
from domain import times, veris_vocabulary
from domain.errors import InvalidFact, InvalidTime, LedgerError
from domain.facts import KINDS, AttackDiscovered, Fact, Member, MembersEnrolled

MAX_TEXT: Final = 10_000
MAX_ID: Final = 200
MAX_LIST: Final = 100_000

DEFAULTED: Final = frozenset({"id", "known_on", "occurred_on", "by"})
"""Common keys the ledger fills in when absent; never compared for idempotency when absent."""

_VERIS: Final = {key: frozenset(veris_vocabulary.allowed(key)) for key in ("action", "vector")}
_MEMBER_KEYS: Final = ("ref", "role", "contract", "from", "until", "nir")
_ID_FIELDS: Final = frozenset({"id", "incident", "insurer", "operator", "authority", "fact", "category", "ref"})
_EXACT_IDS: Final = frozenset({"incident", "insurer"})
"""Ids refused (not stripped) when they carry surrounding spaces: " mh" would be another insurer."""
_INVISIBLE: Final = frozenset({"Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
_FILLERS: Final = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
"""Letters and marks that print as blank space (Hangul fillers, the braille blank, ...)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
        raise InvalidFact(f"expected a JSON object, got {_json_type(obj)}")
    kind = obj.get("kind")
    if kind is None:
        raise InvalidFact("missing required key 'kind'")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidFact(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    required, optional = input_keys(kind)
    allowed = {"kind", *required, *optional}
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise InvalidFact(f"unknown key{'s' if len(unknown) > 1 else ''} {_names(unknown)} for kind {kind!r}")
    absent = [k for k in required if obj.get(k) is None]
    if absent:
        raise InvalidFact(f"missing required key{'s' if len(absent) > 1 else ''} {_names(absent)} for kind {kind!r}")
    given = frozenset(k for k, v in obj.items() if k != "kind" and v is not None)
    data: dict[str, Any] = {k: _clean(k, v) for k, v in obj.items() if v is not None}
    _resolve_common(data, ctx, kind)
    if kind == "members-enrolled":
        data["members"] = _members(data["members"], ctx.nir_key)
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


def _members(value: object, nir_key: bytes) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidFact("members: expected a non-empty list of {ref, role?, contract?, from?, until?, nir?}")
    if len(value) > MAX_LIST:
        raise InvalidFact(f"members: at most {MAX_LIST} members per fact, got {len(value)}")
    members: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, entry in enumerate(value, start=1):
        where = f"members[{number}]"
        if not isinstance(entry, Mapping):
            raise InvalidFact(f"{where}: expected an object with at least 'ref', got {_json_type(entry)}")
        member = member_from_mapping(entry, nir_key, where)
        if member["ref"] in seen:
            raise InvalidFact(f"{where}: ref {member['ref']!r} appears twice in one fact")
        seen.add(member["ref"])
        members.append(member)
    return members


def member_from_mapping(entry: Mapping[str, Any], nir_key: bytes, where: str) -> dict[str, Any]:
    """One roster entry, checked, empty values dropped and the NIR pseudonymised."""
    unknown = sorted(str(k) for k in entry if k not in _MEMBER_KEYS)
    if unknown:
        raise InvalidFact(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {_names(unknown)}"
            f" (allowed: {', '.join(_MEMBER_KEYS)})"
        )
    member = {k: _clean(k, v) for k, v in entry.items() if v not in (None, "")}
    if not isinstance(member.get("ref"), str):
        raise InvalidFact(f"{where}: missing member 'ref'")
    role = member.get("role")
    if role is not None and role not in ("holder", "dependant"):
        raise InvalidFact(f"{where}: role: {role!r} is not one of holder, dependant")
    for key in ("from", "until"):
        if key in member:
            member[key] = times.parse_date(member[key], f"{where}: {key}")
    if "from" in member and "until" in member and member["until"] < member["from"]:
        raise InvalidFact(f"{where}: until {member['until']} is before from {member['from']}")
    if "nir" in member:
        try:
            member["nir"] = nir_rules.pseudonymise(member["nir"], nir_key)
        except LedgerError as problem:
            raise InvalidFact(f"{where}: {problem}") from None
    return member


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


def _clean(key: str, value: Any) -> Any:
    """Reject NUL and control characters, over-long text and lists; strip identifiers."""
    if isinstance(value, str):
        if len(value) > (MAX_ID if key in _ID_FIELDS else MAX_TEXT):
            limit = MAX_ID if key in _ID_FIELDS else MAX_TEXT
            raise InvalidFact(f"{key}: text longer than {limit} characters")
        if _CONTROL.search(value) or (key in _ID_FIELDS and ("\n" in value or "\r" in value)):
            raise InvalidFact(f"{key}: control characters are not allowed")
        if _SURROGATE.search(value):
            raise InvalidFact(f"{key}: not valid Unicode text (a lone surrogate, e.g. from undecodable bytes)")
        value = unicodedata.normalize("NFC", value)
        if key in _ID_FIELDS:
            if not value.strip():
                raise InvalidFact(f"{key}: must not be empty")
            _check_identifier(key, value)
            value = value.strip()
        return value
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise InvalidFact(f"{key}: at most {MAX_LIST} entries, got {len(value)}")
        return [_clean(key[:-1] if key in ("refs",) else key, v) if isinstance(v, str) else v for v in value]
    return value


def invisible(text: str) -> str | None:
    """The first character of `text` that shows as nothing or as a plain space without being
    one (zero-width space, joiners, BOM, bidi controls, no-break and other Unicode spaces,
    fillers), or None. ASCII text has none (its control characters are checked apart)."""
    if text.isascii():
        return None
    for char in text:
        if char in _FILLERS or unicodedata.category(char) in _INVISIBLE or (char.isspace() and char != " "):
            return char
    return None


def _check_identifier(key: str, value: str) -> None:
    """Ids that look alike must be alike: no invisible character anywhere, no surrounding
    space on the ids that name an incident or an insurer, and no NIR as a member ref."""
    char = invisible(value)
    if char is not None:
        raise InvalidFact(f"{key}: invisible character U+{ord(char):04X} is not allowed")
    if key in _EXACT_IDS and value != value.strip():
        raise InvalidFact(f"{key}: surrounding spaces are not allowed in {value!r}")
    if key == "ref" and nir_rules.is_nir(value):
        masked = nir_rules.mask_nirs(value)
        raise InvalidFact(f"{key}: {masked!r} is a NIR: a NIR goes in the member's nir, never in a ref")


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


def _names(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def _json_type(value: object) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# -- rosters: the fast path for millions of members -------------------------------------

_REF_BAD = re.compile(r"[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=65_536)
def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def roster_member(
    ref: str,
    role: str,
    contract: str,
    start: str,
    end: str,
    nir: str,
    pseudonymise: Callable[[str], str],
    where: str,
) -> Member:
    """One roster row (empty text = absent) as a `Member`, the NIR replaced by its pseudonym.

    The same rules as `member_from_mapping`, written for speed: rosters have millions of rows.
    """
    if not ref:
        raise InvalidFact(f"{where}: missing member 'ref'")
    if (
        len(ref) > MAX_ID
        or _REF_BAD.search(ref)
        or (contract and (len(contract) > MAX_ID or _REF_BAD.search(contract)))
    ):
        raise InvalidFact(f"{where}: ref and contract must be at most {MAX_ID} characters without control characters")
    if not (ref.isascii() and contract.isascii()) or (len(ref) >= nir_rules.LENGTH and ref[0].isdigit()):
        for key, value in (("ref", ref), ("contract", contract)):
            try:
                _check_identifier(key, value)
            except InvalidFact as problem:
                raise InvalidFact(f"{where}: {problem}") from None
    if role and role not in ("holder", "dependant"):
        raise InvalidFact(f"{where}: role: {role!r} is not one of holder, dependant")
    from_day = _day(start) if start else None
    if start and from_day is None:
        raise InvalidTime(f"{where}: from: expected a date YYYY-MM-DD, got {start!r}")
    until_day = _day(end) if end else None
    if end and until_day is None:
        raise InvalidTime(f"{where}: until: expected a date YYYY-MM-DD, got {end!r}")
    if from_day and until_day and until_day < from_day:
        raise InvalidFact(f"{where}: until {until_day} is before from {from_day}")
    pseudonym = None
    if nir:
        try:
            pseudonym = pseudonymise(nir_rules.normalise(nir))
        except LedgerError as problem:
            raise InvalidFact(f"{where}: {problem}") from None
    return Member(
        ref=ref,
        role=role or None,  # type: ignore[arg-type]
        contract=contract or None,
        from_=from_day,
        until=until_day,
        nir=pseudonym,
    )


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
    data: dict[str, Any] = {"kind": "members-enrolled", "id": fact_id, "insurer": _clean("insurer", insurer)}
    if known_on is not None:
        data["known_on"] = known_on
    _resolve_common(data, ctx, "members-enrolled")
    extra = {k: _clean(k, v) for k, v in (("source", source), ("note", note)) if v is not None}
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
