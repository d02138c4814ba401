"""The questions about one horizon: summary, insurer, member (one or many NIRs), members export.

Each takes the `Horizon` that `usecases.session.horizon` resolved (after catching up).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO, TypeVar

from domain import nir as nir_rules
from domain.answers import Insurer, Member, NotKnown, Summary
from ledger.store import Store
from projections import batch, queries
from projections.queries import Horizon

T = TypeVar("T")


async def incidents(store: Store, h: Horizon) -> list[str]:
    """The incidents known at the horizon."""
    return await queries.incidents(store.db, h)


async def insurer_known(store: Store, insurer_id: str) -> bool:
    """Whether a fact names `insurer_id`, as known now (caught up first)."""
    h = await store.horizon()
    return insurer_id in await queries.known_insurers(store.db, h)


async def incidents_by_start(store: Store, h: Horizon) -> list[str]:
    """The incidents known at the horizon, by when their attack began (then by id)."""
    began: list[tuple[datetime, str]] = []
    for incident in await queries.incidents(store.db, h):
        view = await queries.incident_view(store.db, incident, h)
        began.append((view.attack_began or datetime.max.replace(tzinfo=UTC), incident))
    return [incident for _began, incident in sorted(began)]


async def summary(store: Store, incident: str, h: Horizon) -> Summary | NotKnown:
    """SPEC §7 `summary`: insurers, member counts and field categories of an incident."""
    return await queries.summary(store.db, incident, h)


async def insurer(store: Store, incident: str, insurer_id: str, h: Horizon) -> Insurer | NotKnown:
    """One insurer in one incident: status, scope, fields, counts, notification dates."""
    return await queries.insurer(store.db, incident, insurer_id, h)


async def member(
    store: Store, h: Horizon, *, insurer_id: str | None = None, ref: str | None = None, nir: str | None = None
) -> Member:
    """Every membership of a member (by insurer and ref: an unknown insurer is an error, not
    "no membership") or of a person (by NIR, pseudonymised here with the store's key)."""
    if insurer_id is not None:
        await queries.require_insurer(store.db, insurer_id)
    pseudonymised = pseudonym(store, nir) if nir is not None else None
    return await queries.member(store.db, h, insurer_id=insurer_id, ref=ref, nir_pseudonym=pseudonymised)


def pseudonym(store: Store, nir: str) -> str:
    """The NIR's pseudonym under the store's key (`InvalidNIR` for an invalid NIR; a
    `StoreError` when the store was opened without its key file)."""
    return pseudonymiser(store)(nir)


def pseudonymiser(store: Store) -> Callable[[str], str]:
    """NIR -> pseudonym under the store's key (`StoreError` now, when the store was opened
    without its key file; `InvalidNIR` later, for an invalid NIR)."""
    key = store.keys_for("member --nir needs it (a NIR is looked up by its keyed pseudonym)").nir_key
    return functools.partial(nir_rules.pseudonymise, key=key)


Pieces = batch.Pieces
"""What a caller keeps across the batches of one horizon (the encoded parts of answers)."""


async def members_by_nir(
    store: Store, h: Horizon, pseudonyms: Sequence[str], pieces: batch.Pieces | None = None
) -> list[Member]:
    """`member` for many NIR pseudonyms at once, in order (`member --nir -`): one SQL statement
    per batch (`projections.batch`); `pieces` kept by a caller that answers several batches."""
    return await batch.members_by_nir(store.db, h, pseudonyms, pieces)


async def members_export(
    store: Store, incident: str, h: Horizon, insurer_id: str | None, fmt: str, sink: TextIO
) -> int:
    """Stream the affected members of an incident to `sink` as CSV or JSON Lines; the row count."""
    from ledger import roster  # noqa: PLC0415 - its cipher (cryptography) loads for the export only

    return await roster.export(store, incident, h, insurer_id, fmt, sink)
