"""The audit's use cases: log, verify, head, keygen, replay, export.

The work is in `ledger.audit` and `ledger.signing`; here the command line's strings
(times, key files) become their values, once. `AuditFailure` is raised as is: the
command line turns it into exit code 3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from domain import times
from domain.errors import AuditFailure
from domain.merkle import Checkpoint, Head
from ledger import audit, signing
from ledger.audit import Replayed, Verified
from ledger.replay import Progress, TableDigest
from ledger.store import Store
from projections import queries


async def log_entries(
    store: Store, kinds: Sequence[str], since: str | None, until: str | None, incident: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every fact in append order, of `kinds` (all if none), recorded from `since` (a date: its
    start) to `until` (a date: its end), about `incident` (an unknown one is an error), as the
    audit log shows it."""
    start = times.parse_instant(since, "--from", store.tz, date_means="start") if since else None
    end = times.parse_instant(until, "--to", store.tz, date_means="end") if until else None
    if incident is not None:
        await store.catch_up()
        await queries.require_incident(store.db, incident)
    async for entry in audit.log_entries(store, kinds, start, end, incident):
        yield entry


Verifier = signing.Verifier


def load_verifier(text: str) -> Verifier:
    """A public key (file or text, from `audit keygen`) that checks checkpoint signatures."""
    return signing.load_verifier(text)


async def verify(store: Store, expected: Head | Checkpoint | None, trusted: Verifier | None) -> Verified:
    """Recompute the log's hashes; prove that it extends `expected`, signed by `trusted` if given."""
    return await audit.verify(store, expected, trusted)


async def checkpoint(store: Store, key_file: str | None) -> Checkpoint:
    """The verified head as a checkpoint, signed with the private key in `key_file` if given."""
    signer = signing.load_signer(Path(key_file)) if key_file else None
    current = await audit.checkpoint(store)
    return signer.sign(current) if signer is not None else current


def keygen(file: str, name: str) -> tuple[Path, str]:
    """A new Ed25519 key pair in `file` and `file`.pub: (the public file, the verifier key)."""
    signer = signing.write_key_pair(Path(file), name)
    return signing.public_path(Path(file)), signer.verifier_key


async def verify_projections(store: Store, progress: Progress | None = None) -> list[TableDigest]:
    """Rebuild every projection from the facts alone and compare it, table by table."""
    return await audit.verify_projections(store, progress)


async def replay(store: Store, *, answers: bool = False, progress: Progress | None = None) -> Replayed:
    """Rebuild every projection from the facts alone and compare the tables (and, with
    `answers`, every answer at every knowledge time)."""
    return await audit.replay(store, answers=answers, progress=progress)


async def export(store: Store, out: TextIO, *, decrypt: bool = False) -> Head:
    """The verified log as CloudEvents JSON lines written to `out`; its head (facts of an
    encrypted store stay encrypted unless `decrypt`)."""
    return await audit.export(store, out, decrypt=decrypt)


__all__ = ["AuditFailure", "Replayed", "Verified"]
