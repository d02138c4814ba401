"""`summary`, `insurer` and `member`: what was known about an incident, an insurer, a member."""

from __future__ import annotations

import click

import service
from cli.render import tables as render
from cli.shell import emit, horizon_options, json_option, run, with_store
from service import Store


@click.command()
@click.option("--incident", required=True, help="Incident id, e.g. viamedis-2024-01.")
@horizon_options
@json_option
def summary(incident: str, when: service.When, as_json: bool) -> None:
    """Insurers, member counts and field categories of an incident.

    \b
    Example:
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        emit(await service.summary(store, incident, when), as_json, render.summary)

    run(go())


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id.")
@horizon_options
@json_option
def insurer(incident: str, insurer_id: str, when: service.When, as_json: bool) -> None:
    """One insurer: status, scope, fields, counts, notification dates.

    \b
    Example:
      exposure insurer --incident almerys-2024-02 --insurer mutame-et-plus
    """

    @with_store
    async def go(store: Store) -> None:
        emit(await service.insurer(store, incident, insurer_id, when), as_json, render.insurer)

    run(go())


@click.command()
@click.option("--insurer", "insurer_id", help="Insurer id (with --ref).")
@click.option("--ref", help="The insurer's member number (with --insurer).")
@click.option("--nir", help="Social security number: every membership of that person.")
@horizon_options
@json_option
def member(insurer_id: str | None, ref: str | None, nir: str | None, when: service.When, as_json: bool) -> None:
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
        answer = await service.member(store, when, insurer_id=insurer_id, ref=ref, nir=nir)
        emit(answer, as_json, render.member)

    run(go())
