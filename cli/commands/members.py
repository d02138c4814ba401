"""`members import` and `members export`: rosters in, affected members out."""

from __future__ import annotations

import sys

import click

import service
from cli.render.progress import RosterProgress
from cli.shell import emit_json, horizon_options, json_option, run, with_store
from service import ROSTER_BATCH, Store


@click.group()
def members() -> None:
    """Rosters in (CSV import) and affected members out (export).

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-01-01
    """


@members.command("import")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id the roster belongs to.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--known-on", metavar="X", help="When the roster was known (default: now).")
@click.option(
    "--batch-size", default=ROSTER_BATCH, show_default=True, type=click.IntRange(1, 100_000), help="Members per fact."
)
@json_option
def members_import(insurer_id: str, file: str, known_on: str | None, batch_size: int, as_json: bool) -> None:
    """Import a roster CSV (header ref,role,contract,from,until,nir; all but ref optional).

    Streamed in batches of thousands of members per fact; re-running the same file
    appends nothing, and a re-run after an interruption completes it.

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-02-01
    """

    @with_store
    async def go(store: Store) -> None:
        with RosterProgress() as progress:
            result = await service.import_roster(
                store, insurer_id, file, known_on=known_on, batch_size=batch_size, progress=progress
            )
        if as_json:
            emit_json(result)
        else:
            click.echo(
                f"{result['rows']:,} rows in {result['facts']} facts: "
                f"{result['appended']} appended, {result['unchanged']} already recorded"
            )

    run(go())


@members.command("export")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", help="Only this insurer's members.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@horizon_options
def members_export(incident: str, insurer_id: str | None, fmt: str, when: service.When) -> None:
    """Stream the affected members (confirmed or presumed) with their exposed fields.

    \b
    Example:
      exposure members export --incident viamedis-2024-01 --format jsonl > affected.jsonl
    """

    @with_store
    async def go(store: Store) -> None:
        await service.members_export(store, incident, when, insurer_id, fmt, sys.stdout)

    run(go())
