"""Text values cleaned: lengths, control, surrogate and invisible characters refused,
identifiers exact; and the words errors use for keys and JSON types.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Final

from domain import nir as nir_rules
from domain.errors import InvalidFact

MAX_TEXT: Final = 10_000
MAX_ID: Final = 200
MAX_LIST: Final = 100_000
_ID_FIELDS: Final = frozenset({"id", "incident", "insurer", "operator", "authority", "fact", "category", "ref"})
_EXACT_IDS: Final = frozenset({"incident", "insurer"})
"""Ids refused (not stripped) when they carry surrounding spaces: " mh" would be another insurer."""
_INVISIBLE: Final = frozenset({"Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
_FILLERS: Final = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
"""Letters and marks that print as blank space (Hangul fillers, the braille blank, ...)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_value(key: str, value: Any) -> Any:
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
            check_identifier(key, value)
            value = value.strip()
        return value
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise InvalidFact(f"{key}: at most {MAX_LIST} entries, got {len(value)}")
        return [clean_value(key[:-1] if key in ("refs",) else key, v) if isinstance(v, str) else v for v in value]
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


def check_identifier(key: str, value: str) -> None:
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


def key_names(keys: list[str]) -> str:
    return ", ".join(repr(k) for k in keys)


def json_type(value: object) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
