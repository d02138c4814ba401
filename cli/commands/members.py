"""`exposure members import` and `members export`: rosters in, affected members out."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.emit import CSV, JSONL, output_options
from cli.i18n import _, ngettext
from cli.render import tables
from cli.render.progress import RosterProgress
from cli.shell import MOMENT, emit_json, horizon_at, json_option, knowledge_options, run, warn, with_store
from usecases import questions, writes
from usecases.session import Store


@click.group()
def members() -> None:
    """Rosters in (CSV import) and affected members out (export).

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-01-01
    """


def _renames(values: tuple[str, ...]) -> dict[str, str]:
    """`--map NAME=COLUMN` pairs (`NAME=`: ignore that column without a warning)."""
    renames: dict[str, str] = {}
    for value in values:
        name, sep, column = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=COLUMN, got {value!r}", param_hint="--map")
        if column.strip() and column.strip().lower() not in writes.ROSTER_COLUMNS:
            raise click.BadParameter(
                f"{column.strip()!r} is not one of {', '.join(writes.ROSTER_COLUMNS)}", param_hint="--map"
            )
        renames[name] = column
    return renames


def _roster_warning(kind: str, values: dict[str, Any], store: Store) -> str:
    """A warning of `members import`, in words (and language) for people."""
    if kind == "ignored_columns":
        columns = values["columns"]
        return ngettext(
            "ignoring column {columns} (not a roster column)",
            "ignoring columns {columns} (not roster columns)",
            len(columns),
        ).format(columns=", ".join(columns))
    if kind == "repeated_rows":
        count = values["count"]
        return ngettext(
            "{count} row repeats a ref of an earlier row of this file: a re-enrolment, the later row wins",
            "{count} rows repeat a ref of an earlier row of this file: re-enrolments, the later row wins",
            count,
        ).format(count=f"{count:,}")
    if kind == "new_insurer":
        text = _("new insurer {insurer}").format(insurer=repr(values["insurer"]))
        if values["near"]:
            hint = _("did you mean {insurers}? (--new-insurer silences this)").format(
                insurers=_(" or ").join(values["near"])
            )
            text = _("{what}: {result}").format(what=text, result=hint)
        return text
    if kind == "already_imported":
        return _(
            "this file was already imported (fact {fact}, known on {moment} {zone}):"
            " importing it again records its members again"
        ).format(fact=values["fact"], moment=tables.stamp(values["known_on"], store.tz), zone=store.tz.key)
    return kind  # pragma: no cover - every kind roster.import_roster uses is worded above


@members.command("import")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id the roster belongs to.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--known-on", metavar="X", type=MOMENT, help="When the roster was known (default: now).")
@click.option(
    "--map",
    "renames",
    metavar="NAME=COLUMN",
    multiple=True,
    help="Read the file's column NAME as COLUMN (ref, role, contract, from, until, nir); NAME= ignores it quietly.",
)
@click.option("--source", help="Evidence for the roster (document, export name), as for `record`.")
@click.option("--note", help="A note kept with the roster's facts.")
@click.option("--by", help="Who records (default $EXPOSURE_ACTOR, else the OS user).")
@click.option("--new-insurer", is_flag=True, help="The insurer is expected to be new: no 'new insurer' warning.")
@click.option(
    "--batch-size",
    default=writes.ROSTER_BATCH,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Members per fact.",
)
@json_option
def members_import(
    insurer_id: str,
    file: str,
    known_on: str | None,
    renames: tuple[str, ...],
    source: str | None,
    note: str | None,
    by: str | None,
    new_insurer: bool,
    batch_size: int,
    as_json: bool,
) -> None:
    """Import a roster as insurers export it: CSV with `,` `;` or tab (detected), a header
    naming ref and any of role, contract, from, until, nir in any case; other columns are
    ignored (one warning).

    Streamed in batches of thousands of members per fact; re-running the same file
    appends nothing, and a re-run after an interruption completes it. Warns about rows
    that repeat a ref (re-enrolments), a file already imported under another --known-on,
    and an insurer no fact has named yet (with "did you mean" for a known one within two
    edits).

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-02-01
      exposure members import --insurer mgen export.csv --map "N° adhérent=ref" --map email= --source "MGEN export"
    """
    options = writes.RosterOptions(
        known_on=known_on, renames=_renames(renames), source=source, note=note, by=by, new_insurer=new_insurer
    )

    @with_store
    async def go(store: Store) -> None:
        def say(kind: str, **values: Any) -> None:
            warn(_roster_warning(kind, values, store))

        with RosterProgress() as progress:
            result = await writes.import_roster(
                store, insurer_id, file, batch_size=batch_size, progress=progress, options=options, warn=say
            )
        if as_json:
            emit_json(result)
        else:
            what = (
                ngettext("{rows} row", "{rows} rows", result["rows"]).format(rows=f"{result['rows']:,}")
                + " "
                + ngettext("in {count} fact", "in {count} facts", result["facts"]).format(count=result["facts"])
            )
            done = _("{appended} appended, {unchanged} already recorded").format(
                appended=result["appended"], unchanged=result["unchanged"]
            )
            click.echo(_("{what}: {result}").format(what=what, result=done))

    run(go())


@members.command("export")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", help="Only this insurer's members.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([CSV, JSONL]),
    help="csv (the default) or jsonl: the same as --csv or --jsonl, and it wins over them.",
)
@output_options(rows=True, default=CSV, whole=False)
@knowledge_options
def members_export(
    incident: str,
    insurer_id: str | None,
    fmt: str | None,
    output: str,
    as_known_on: str | None,
    as_recorded_at: str | None,
) -> None:
    """Stream the affected members (confirmed or presumed) with their exposed fields.

    \b
    Example:
      exposure members export --incident viamedis-2024-01 --format jsonl > affected.jsonl
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        await questions.members_export(store, incident, h, insurer_id, fmt or output, sys.stdout)

    run(go())
