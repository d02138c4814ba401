"""Knowledge over time on the command line: `diff`, `timeline`, `obligations`, `report`,
`export veris`. Registered on the `main` group by `register` (cli/main.py).
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from collections.abc import AsyncGenerator
from typing import Any, Final, ParamSpec, TypeVar

import click
from rich.table import Table

import service
from cli.commands.report import report, rules_option
from cli.shell import emit, emit_json, horizon_options, json_option, out, run, with_store
from domain import times, veris
from domain.errors import InvalidFact
from service import MEMBER_CHANGES, Store

P = ParamSpec("P")
T = TypeVar("T")

CHANGE_COLUMNS: Final = (
    "incident",
    "insurer",
    "ref",
    "change",
    "before_status",
    "before_fields",
    "after_status",
    "after_fields",
)


def _local(iso: str | None, store_tz: Any) -> str:
    """A UTC ISO time as `YYYY-MM-DD HH:MM` in the ledger's zone, for people."""
    if iso is None:
        return "—"
    moment = times.parse_instant(iso, "time", store_tz)
    return moment.astimezone(store_tz).strftime("%Y-%m-%d %H:%M")


def _list(values: list[str]) -> str:
    return ", ".join(values) if values else "—"


# -- diff -------------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option(
    "--from", "from_", required=True, metavar="X", help="Earlier knowledge date (a date: the end of that day)."
)
@click.option("--to", metavar="Y", help="Later knowledge date (default: now).")
@click.option("--members", "list_members", is_flag=True, help="List the members whose answer changed instead.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="With --members: csv (default) or jsonl.")
@click.option("--as-recorded-at", metavar="Y", help="Only facts recorded at or before Y, at both ends.")
@json_option
def diff(
    incident: str,
    from_: str,
    to: str | None,
    list_members: bool,
    fmt: str | None,
    as_recorded_at: str | None,
    as_json: bool,
) -> None:
    """What changed in knowledge between two dates: insurers, fields, member counts.

    With --members, stream the members whose answer changed (became affected, stopped
    being affected, or had their exposed fields changed), with their answer before and
    after: the list for a complementary notification.

    \b
    Examples:
      exposure diff --incident viamedis-2024-01 --from 2024-02-01 --to 2024-02-08 --json
      exposure diff --incident viamedis-2024-01 --from 2024-02-01 --members --format jsonl
    """
    if fmt is not None and not list_members:
        raise click.UsageError("--format applies only with --members")

    @with_store
    async def go(store: Store) -> None:
        if list_members:
            rows = await service.changed_members(store, incident, from_, to, as_recorded_at)
            await _write_changes(rows, fmt or ("jsonl" if as_json else "csv"))
            return
        data = await service.diff(store, incident, from_, to, as_recorded_at)
        emit(data, as_json, lambda answer: _render_diff(answer, store))

    run(go())


async def _write_changes(rows: AsyncGenerator[dict[str, Any], None], fmt: str) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CHANGE_COLUMNS)
    async with contextlib.aclosing(rows):  # closed before the store, even when the reader goes away
        async for row in rows:
            if writer is None:
                sys.stdout.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                continue
            writer.writerow(
                [
                    row["incident"],
                    row["insurer"],
                    row["ref"],
                    row["change"],
                    row["before"]["status"] or "",
                    ";".join(row["before"]["fields"]),
                    row["after"]["status"] or "",
                    ";".join(row["after"]["fields"]),
                ]
            )
    sys.stdout.flush()


def _render_diff(data: dict[str, Any], store: Store) -> None:
    out.print(
        f"[bold]{data['incident']}[/bold]: what changed from {_local(data['from'], store.tz)}"
        f" to {_local(data['to'], store.tz)} ({store.tz.key})"
    )
    table = Table(show_header=True)
    table.add_column("what")
    table.add_column("change")
    table.add_column("", justify="left")
    for key, label in (("newly_affected", "newly affected"), ("newly_ruled_out", "newly ruled out")):
        table.add_row("insurers", label, _list(data["insurers"][key]))
    for key, label in (("newly_exposed", "newly exposed"), ("newly_ruled_out", "newly ruled out")):
        table.add_row("fields", label, _list(data["fields"][key]))
    for key in MEMBER_CHANGES:
        table.add_row("members", key.replace("_", " "), f"{data['members'][key]:,}")
    out.print(table)


# -- timeline ---------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@horizon_options
@json_option
def timeline(incident: str, when: service.When, as_json: bool) -> None:
    """The knowledge history: one row per knowledge time that changed an answer.

    A row lists the facts known at that time (retractions too, with the facts they hid),
    the members affected, the fields exposed and the insurers' statuses from then on.

    \b
    Example:
      exposure timeline --incident viamedis-2024-01 --as-recorded-at 2024-02-10 --json
    """

    @with_store
    async def go(store: Store) -> None:
        entries = await service.timeline(store, incident, when)
        emit(entries, as_json, lambda answer: _render_timeline(incident, answer, store))

    run(go())


def _render_timeline(incident: str, entries: list[dict[str, Any]], store: Store) -> None:
    table = Table(title=f"{incident}: what was known, and when ({store.tz.key})", title_justify="left")
    for column in ("known on", "members affected", "fields exposed", "insurers affected", "facts", "retracted"):
        right = column in ("members affected", "insurers affected")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for entry in entries:
        facts = entry["facts"]
        shown = ", ".join(facts[:3]) + (f" and {len(facts) - 3} more" if len(facts) > 3 else "")
        table.add_row(
            _local(entry["known_on"], store.tz),
            f"{entry['members_affected']:,}",
            _list(entry["fields_exposed"]),
            str(len(entry["insurers"]["affected"])),
            shown,
            _list(entry["retracted"]),
        )
    out.print(table)


# -- obligations ------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@rules_option("Which deadline rule to apply (versioned data, see docs/HISTORY.md).")
@horizon_options
@json_option
def obligations(incident: str, rule_id: str, when: service.When, as_json: bool) -> None:
    """Per insurer: awareness, notification deadline (in UTC), authority and member notices, status.

    Status: on-time or late once the authority was notified; otherwise pending before the
    deadline and overdue after it (as known on X).

    \b
    Example:
      exposure obligations --incident viamedis-2024-01 --json
      exposure obligations --incident viamedis-2024-01 --rules proposal-96h
    """

    @with_store
    async def go(store: Store) -> None:
        data = await service.obligations(store, incident, when, rule_id)
        emit(data, as_json, lambda answer: _render_obligations(answer, store))

    run(go())


STATUS_STYLE: Final = {"on-time": "green", "late": "red", "pending": "yellow", "overdue": "bold red"}


def _render_obligations(data: dict[str, Any], store: Store) -> None:
    rule = data["rule"]
    out.print(
        f"[bold]{data['incident']}[/bold] as known on {_local(data['as_known_on'], store.tz)} ({store.tz.key}):"
        f" {rule['article']}, {rule['hours']} hours"
    )
    table = Table(show_header=True)
    for column in (
        "insurer",
        "aware at",
        "deadline",
        "authority notified",
        "members notified",
        "status",
        "never notified",
        "notified before change",
    ):
        table.add_column(column, justify="right" if column.startswith(("never", "notified")) else "left")
    for entry in data["insurers"]:
        style = STATUS_STYLE[entry["status"]]
        table.add_row(
            entry["insurer"],
            _local(entry["aware_at"], store.tz),
            _local(entry["deadline"], store.tz),
            _local(entry["authority_notified_at"], store.tz),
            _local(entry["members_notified_at"], store.tz),
            f"[{style}]{entry['status']}[/{style}]",
            f"{entry['members_never_notified']:,}",
            f"{entry['members_notified_before_change']:,}",
        )
    out.print(table)
    if data["ruled_out"]:
        out.print(f"Ruled out, nothing to notify: {_list(data['ruled_out'])}")


# -- export -----------------------------------------------------------------------------


@click.group()
def export() -> None:
    """Share an incident in a standard format.

    \b
    Example:
      exposure export veris --incident viamedis-2024-01 > viamedis.veris.json
    """


COUNTRY: Final = re.compile(r"^([A-Z]{2}|Unknown)$")
NAICS: Final = re.compile(r"^\d{2,6}$")


@export.command("veris")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--country", default="Unknown", show_default=True, help="Victim's country (ISO 3166 alpha-2, e.g. FR).")
@click.option(
    "--industry", default=veris.OPERATOR_NAICS, show_default=True, help="Victim's NAICS code (2 to 6 digits)."
)
@horizon_options
def export_veris(incident: str, country: str, industry: str, when: service.When) -> None:
    """A VERIS 1.4 JSON record of the incident (mapping in docs/VERIS.md).

    \b
    Example:
      exposure export veris --incident viamedis-2024-01 --country FR --as-known-on 2024-02-16
    """

    @with_store
    async def go(store: Store) -> None:
        if not COUNTRY.match(country):
            raise InvalidFact(f"--country: expected an ISO 3166 alpha-2 code such as FR, got {country!r}")
        if not NAICS.match(industry):
            raise InvalidFact(f"--industry: expected a NAICS code of 2 to 6 digits, got {industry!r}")
        found = await service.veris(store, incident, when, country=country, industry=industry)
        emit_json(veris.record(found))

    run(go())


def register(group: click.Group) -> None:
    """Add diff, timeline, obligations, report and `export veris` to the root group."""
    for command in (diff, timeline, obligations, report, export):
        group.add_command(command)
