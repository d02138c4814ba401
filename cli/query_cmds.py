"""`exposure summary`, `insurer` and `member`: the answers as known on a date."""

from __future__ import annotations

import click

from cli import render
from cli.shell import emit_json, horizon_options, run, with_store
from domain import nir as nir_rules
from ledger.store import Store
from projections import queries


@click.command()
@click.option("--incident", required=True, help="Incident id, e.g. viamedis-2024-01.")
@horizon_options
def summary(incident: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool) -> None:
    """Insurers, member counts and field categories of an incident.

    \b
    Example:
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        h = await store.horizon(as_known_on, as_recorded_at)
        data = await queries.summary(store.db, incident, h)
        emit_json(data) if as_json else render.summary(data)

    run(go())


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id.")
@horizon_options
def insurer(incident: str, insurer_id: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool) -> None:
    """One insurer: status, scope, fields, counts, notification dates.

    \b
    Example:
      exposure insurer --incident almerys-2024-02 --insurer mutame-et-plus
    """

    @with_store
    async def go(store: Store) -> None:
        h = await store.horizon(as_known_on, as_recorded_at)
        data = await queries.insurer(store.db, incident, insurer_id, h)
        emit_json(data) if as_json else render.insurer(data)

    run(go())


@click.command()
@click.option("--insurer", "insurer_id", help="Insurer id (with --ref).")
@click.option("--ref", help="The insurer's member number (with --insurer).")
@click.option("--nir", help="Social security number: every membership of that person.")
@horizon_options
def member(
    insurer_id: str | None,
    ref: str | None,
    nir: str | None,
    as_known_on: str | None,
    as_recorded_at: str | None,
    as_json: bool,
) -> None:
    """Every membership found, per incident: status, fields, implied fields and the facts behind.

    \b
    Examples:
      exposure member --insurer malakoff-humanis --ref MH-000042
      exposure member --nir "2 95 10 99 126 111 93" --json
    """
    if nir is None and (insurer_id is None or ref is None):
        raise click.UsageError("give --insurer and --ref, or --nir")
    if nir is not None and (insurer_id is not None or ref is not None):
        raise click.UsageError("give either --nir or --insurer with --ref, not both")

    @with_store
    async def go(store: Store) -> None:
        h = await store.horizon(as_known_on, as_recorded_at)
        pseudonym = nir_rules.pseudonymise(nir, store.keys.nir_key) if nir is not None else None
        data = await queries.member(store.db, h, insurer_id=insurer_id, ref=ref, nir_pseudonym=pseudonym)
        emit_json(data) if as_json else render.member(data)

    run(go())
