"""`exposure audit ...`: the log, verification against kept heads, replay, export, keys.

The `audit` group, named in `cli.main.COMMANDS`. Exit 3 (and one `Error: ...` line)
when the ledger fails verification or replay; exit 1 for bad input.
"""

from __future__ import annotations

import sys
from typing import Any, Final
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from cli.commands.audit_verify import audit_head, audit_keygen, audit_verify
from cli.emit import CSV, JSON, JSONL, TABLE, csv_row, csv_writer, output_options
from cli.i18n import _
from cli.render import tables
from cli.render.progress import RosterProgress
from cli.shell import (
    MOMENT,
    emit_json,
    emit_json_line,
    force_option,
    json_option,
    output_to,
    run,
    with_store,
)
from domain.facts import KINDS
from usecases import audit as auditing
from usecases.session import Store

LOG_COLUMNS: Final = (
    "position",
    "id",
    "kind",
    "known_on",
    "occurred_on",
    "recorded_at",
    "by",
    "source",
    "hash",
    "late",
)
"""`audit log --csv`: the times, author, source and hash every fact has (its own keys: --jsonl)."""

# -- log --------------------------------------------------------------------------------


@click.command("log")
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(sorted(KINDS)), help="Only facts of this kind (repeatable)."
)
@click.option(
    "--from", "since", metavar="X", type=MOMENT, help="Only facts recorded at or after X (a date means its start)."
)
@click.option(
    "--to", "until", metavar="Y", type=MOMENT, help="Only facts recorded at or before Y (a date means its end)."
)
@click.option("--incident", metavar="ID", help="Only facts about this incident (and their retractions).")
@output_options(rows=True, json_help="Print JSON (only JSON): one object per fact, one per line, as --jsonl.")
def audit_log(kinds: tuple[str, ...], since: str | None, until: str | None, incident: str | None, output: str) -> None:
    """Every fact in append order with its three times, author, source and hash.

    A fact recorded more than 7 days after its known_on is a late entry: marked
    `late` (JSON: "late": true). --from/--to select by recorded_at. Times are shown
    in the ledger's time zone, to the minute (JSON: UTC); the hash is cut to 16
    characters (the full value is in --json); ids are never cut.

    \b
    Examples:
      exposure audit log --kind fact-retracted
      exposure audit log --incident viamedis-2024-01 --from 2024-02-01 --to 2024-02-07
      exposure audit log --from 2024-02-01 --to 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        rows: list[dict[str, Any]] = []
        writer = csv_writer(LOG_COLUMNS) if output == CSV else None
        async for entry in auditing.log_entries(store, kinds, since, until, incident):
            if output in (JSON, JSONL):
                emit_json_line(entry)
            elif writer is not None:
                writer.writerow(csv_row(entry, LOG_COLUMNS))
            else:
                rows.append(entry)
        if output == TABLE:
            _render_log(rows, store.tz)

    run(go())


def _render_log(rows: list[dict[str, Any]], tz: ZoneInfo) -> None:
    table = Table(show_header=True, title=_("Every fact in append order ({zone})").format(zone=tz.key))
    tables.id_column(table, "#", [str(row["position"]) for row in rows], justify="right")
    for column in (_("recorded at"), _("known on")):
        tables.id_column(table, column, ["2024-01-01 00:00"])
    tables.id_column(table, _("late entry"), [_("late")])
    tables.id_column(table, _("occurred on"), ["2024-01-01 00:00"])
    tables.id_column(table, _("kind"), [row["kind"] for row in rows])
    tables.id_column(table, _("id"), [row["id"] for row in rows])
    table.add_column(_("by"), overflow="fold", max_width=20)
    table.add_column(_("source"), overflow="fold", max_width=40)
    tables.id_column(table, _("hash (cut)"), ["0" * 16])
    for row in rows:
        table.add_row(
            str(row["position"]),
            tables.stamp(row["recorded_at"], tz),
            tables.stamp(row["known_on"], tz),
            f"[bold]{_('late')}[/bold]" if row["late"] else "",
            tables.stamp(row["occurred_on"], tz),
            row["kind"],
            row["id"],
            row.get("by") or "",
            row.get("source") or "",
            row["hash"][:16],
        )
    tables.print_table(table)


# -- replay and export ------------------------------------------------------------------


@click.command("replay")
@click.option(
    "--answers",
    is_flag=True,
    help="Also compare every answer one by one at every knowledge time and every append (slow).",
)
@click.option(
    "--progress",
    "show_progress",
    is_flag=True,
    help="Progress on stderr even when it is not a terminal (plain lines); on a terminal a bar is always shown.",
)
@json_option
def audit_replay(answers: bool, show_progress: bool, as_json: bool) -> None:
    """Rebuild every projection from the facts alone and compare, table by table (exit 3 on a difference).

    Every projection table, caches included, is read in one canonical order on both
    sides and compared row by row (with a SHA-256 digest of each table); the first
    difference names its table, its key and its column. Equal tables give equal answers
    at every knowledge time (docs/AUDIT.md). --answers also compares each incident's
    summary, each insurer's answer and each member's status at every knowledge time and
    every append, as the answers were compared before. Progress goes to stderr (a bar on a
    terminal, lines with --progress), never to the output.

    \b
    Examples:
      exposure audit replay
      exposure audit replay --answers
    """

    @with_store
    async def go(store: Store) -> None:
        with RosterProgress(force=show_progress, units={"rebuild": "facts"}) as progress:
            result = await auditing.replay(store, answers=answers, progress=progress)
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "facts": result.facts,
                    "tables": [t.__dict__ for t in result.tables],
                    "answers": None if result.answers is None else result.answers.__dict__,
                }
            )
            return
        rows = sum(t.rows for t in result.tables)
        click.echo(
            f"Replayed {result.facts} facts into a fresh read side: {len(result.tables)} projection tables"
            f" ({rows:,} rows) identical"
        )
        if result.answers is not None:
            a = result.answers
            click.echo(
                f"{a.answers:,} answers identical at {a.knowledge_times} knowledge times and {a.recording_times}"
                f" recording times ({a.incidents} incidents, {a.insurers} insurers, {a.members:,} members)"
            )

    run(go())


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--decrypt",
    is_flag=True,
    help="On an encrypted store, also write each fact in clear (needs the key file; an auditor without"
    " the key cannot check the clear data against the ciphertext).",
)
@force_option
def audit_export(file: str, decrypt: bool, force: bool) -> None:
    """Write the verified log as CloudEvents 1.0 JSON lines, the head last (- for stdout).

    Each line carries the exact stored bytes (base64) and leaf hash, so that an
    auditor recomputes every leaf and the root without this program
    (docs/AUDIT.md). Every field of a line is bound to its leaf hash. An encrypted
    store's facts stay encrypted in the export unless --decrypt. An existing FILE is
    replaced only with --force; never the store or a key file.

    \b
    Examples:
      exposure audit export ledger.jsonl
      exposure audit export ledger-clear.jsonl --decrypt    # encrypted store: facts in clear
    """

    @with_store
    async def go(store: Store) -> None:
        if file == "-":
            head = await auditing.export(store, sys.stdout, decrypt=decrypt)
        else:
            with output_to(file, "audit export", force=force, make_folder=True) as handle:
                head = await auditing.export(store, handle, decrypt=decrypt)
        if file != "-":
            click.echo(f"Exported {head.size} facts to {file}; head {head}", err=False)

    run(go())


@click.group()
def audit() -> None:
    """Inspect and verify the whole history.

    \b
    Example:
      exposure audit log --json
    """


for _command in (audit_log, audit_verify, audit_head, audit_keygen, audit_replay, audit_export):
    audit.add_command(_command)
