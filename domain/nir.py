"""The French social security number (NIR) and its keyed pseudonym.

A NIR is 13 characters and a 2-digit key: key = 97 - (N mod 97), where N is the
13-digit number with Corsica's `2A` read as `19` and `2B` as `18`. The raw NIR
is never stored: the ledger keeps HMAC-SHA256(key, NIR), truncated to 128 bits
and written in hex, whose key lives in a separate key file.
"""

from __future__ import annotations

import hashlib
import hmac

from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

from domain.errors import InvalidNIR

PSEUDONYM_BYTES = 16
_CORSICA = {"2A": "19", "2B": "18"}


def normalise(text: str) -> str:
    """The 15-character NIR with spaces, dots and dashes removed, upper case.

    Raises `InvalidNIR` with the reason (length, characters or key).
    """
    if not isinstance(text, str):
        raise InvalidNIR(f"invalid NIR: expected text, got {type(text).__name__}")
    compact = "".join(ch for ch in text if ch not in " .-").upper()
    if len(compact) != 15:
        raise InvalidNIR(f"invalid NIR: expected 15 characters, got {len(compact)}")
    try:
        return str(stdnum_nir.validate(compact))
    except ValidationError as problem:
        reason = "wrong key" if "checksum" in type(problem).__name__.lower() else "malformed"
        raise InvalidNIR(f"invalid NIR: {reason} ({_mask(compact)})") from None


def check_key(first_13: str) -> str:
    """The 2-digit key of the 13 first characters (2A/2B handled)."""
    department = first_13[5:7].upper()
    number = first_13[:5] + _CORSICA.get(department, department) + first_13[7:]
    return f"{97 - int(number) % 97:02d}"


def pseudonym(nir: str, key: bytes) -> str:
    """The keyed pseudonym stored in place of a valid, normalised NIR."""
    digest = hmac.new(key, nir.encode("ascii"), hashlib.sha256).digest()
    return digest[:PSEUDONYM_BYTES].hex()


def pseudonymise(text: str, key: bytes) -> str:
    """Validate `text` as a NIR and return its pseudonym."""
    return pseudonym(normalise(text), key)


def _mask(compact: str) -> str:
    """Never echo a whole NIR into an error message or a log."""
    return compact[:1] + "*" * max(0, len(compact) - 3) + compact[-2:]
