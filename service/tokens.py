"""Bearer tokens for the lookup service: printed once, stored as a hash.

A token is `exp_` followed by 32 random bytes (base64url). The service database keeps
only its SHA-256 (`hash`) and the first 12 hex digits of that hash as its public name
(`fingerprint`: what `token list`, `token revoke` and the access log show). A token is
scoped to one insurer, or to every insurer (`--all-insurers`, the operator's incident
team), and has a rate: lookups per second, minute or hour (`20/s`, `600/min`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from domain.errors import InvalidFact, UnknownReference
from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db

PREFIX: Final = "exp_"
FINGERPRINT_DIGITS: Final = 12
DEFAULT_RATE: Final = "20/s"
_RATE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*")
_PER: Final = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    """`count` lookups per `seconds`; the bucket holds one second's worth (at least one lookup)."""

    text: str
    per_second: float

    @property
    def burst(self) -> int:
        """The most lookups one request may carry, and the bucket's size."""
        return max(1, int(self.per_second))


def parse_rate(text: str, what: str = "--rate") -> Rate:
    """`20/s`, `600/min`, `1000/h`: a positive rate."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise InvalidFact(f"{what}: expected COUNT/s, COUNT/min or COUNT/h, got {text!r}")
    count = float(match.group(1))
    if count <= 0:
        raise InvalidFact(f"{what}: the rate must be positive, got {text!r}")
    return Rate(f"{match.group(1)}/{match.group(2)}", count / _PER[match.group(2)])


@dataclass(frozen=True)
class Token:
    """A stored token (never the secret itself)."""

    fingerprint: str
    hash: str
    name: str
    insurer: str | None
    """None: every insurer (an auditor's token)."""
    rate: Rate
    created_at: datetime
    revoked_at: datetime | None

    def as_json(self) -> dict[str, object]:
        """The token as `token list --json` prints it."""
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "insurer": self.insurer,
            "all_insurers": self.insurer is None,
            "rate": self.rate.text,
            "created_at": iso_utc(self.created_at),
            "revoked_at": iso_utc(self.revoked_at) if self.revoked_at else None,
        }


def digest(secret: str) -> str:
    """The stored hash of a token."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


async def create(db: Db, name: str, insurer: str | None, rate: Rate) -> tuple[str, Token]:
    """A new token: (the secret, to print once; what is stored)."""
    if not name.strip():
        raise InvalidFact("--name must not be empty")
    secret = PREFIX + secrets.token_urlsafe(32)
    hashed = digest(secret)
    now = datetime.now(UTC)
    token = Token(hashed[:FINGERPRINT_DIGITS], hashed, name, insurer, rate, now, None)
    await db.execute(
        "INSERT INTO service_tokens (fingerprint, hash, name, insurer, rate, created_us) VALUES (?, ?, ?, ?, ?, ?)",
        (token.fingerprint, hashed, name, insurer, rate.text, to_micros(now)),
    )
    await db.commit()
    return secret, token


async def every(db: Db) -> list[Token]:
    """Every token, revoked ones too, oldest first."""
    rows = await db.execute_fetchall(
        "SELECT fingerprint, hash, name, insurer, rate, created_us, revoked_us FROM service_tokens"
        " ORDER BY created_us, fingerprint"
    )
    return [
        Token(
            str(fp),
            str(hashed),
            str(name),
            None if insurer is None else str(insurer),
            parse_rate(str(rate)),
            from_micros(int(created)),
            None if revoked is None else from_micros(int(revoked)),
        )
        for fp, hashed, name, insurer, rate, created, revoked in rows
    ]


async def revoke(db: Db, fingerprint: str) -> Token:
    """Revoke the token with this fingerprint (revoking twice keeps the first time)."""
    found = [t for t in await every(db) if t.fingerprint == fingerprint.strip().lower()]
    if not found:
        raise UnknownReference(f"no token with fingerprint {fingerprint!r} (see: exposure service token list)")
    token = found[0]
    if token.revoked_at is None:
        await db.execute(
            "UPDATE service_tokens SET revoked_us = ? WHERE fingerprint = ?",
            (to_micros(datetime.now(UTC)), token.fingerprint),
        )
        await db.commit()
    return next(t for t in await every(db) if t.fingerprint == token.fingerprint)
