"""Roster members, from a fact's `members` list or a roster file's row, their NIR replaced
by its pseudonym.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Final

from domain import nir as nir_rules
from domain import times
from domain.errors import InvalidFact, InvalidTime, LedgerError
from domain.facts import Member
from domain.parse.text import MAX_ID, MAX_LIST, check_identifier, clean_value, json_type, key_names

_MEMBER_KEYS: Final = ("ref", "role", "contract", "from", "until", "nir")


def members_of(value: object, nir_key: bytes) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidFact("members: expected a non-empty list of {ref, role?, contract?, from?, until?, nir?}")
    if len(value) > MAX_LIST:
        raise InvalidFact(f"members: at most {MAX_LIST} members per fact, got {len(value)}")
    members: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, entry in enumerate(value, start=1):
        where = f"members[{number}]"
        if not isinstance(entry, Mapping):
            raise InvalidFact(f"{where}: expected an object with at least 'ref', got {json_type(entry)}")
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
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {key_names(unknown)}"
            f" (allowed: {', '.join(_MEMBER_KEYS)})"
        )
    member = {k: clean_value(k, v) for k, v in entry.items() if v not in (None, "")}
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
                check_identifier(key, value)
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
