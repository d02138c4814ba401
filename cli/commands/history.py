"""Knowledge over time on the command line: `diff`, `timeline`, `obligations` and
`export veris` (`report` lives in `cli.commands.report`); named in `cli.main.COMMANDS`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from collections.abc import AsyncGenerator
from typing import Any, Final

import click
from rich.table import Table

from cli.i18n import _
from cli.render import tables
from cli.shell import (
    MOMENT,
    emit_json,
    horizon_at,
    horizon_options,
    json_option,
    knowledge_options,
    out,
    rules_option,
    run,
    with_store,
)
from domain import obligations as rules
from domain import times, veris
from domain.csv_cells import cell
from domain.errors import InvalidFact
from usecases import history as story
from usecases.session import Store

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


_local = tables.stamp
_list = tables.listed


# -- diff -------------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option(
    "--from",
    "from_",
    required=True,
    metavar="X",
    type=MOMENT,
    help="Earlier knowledge date (a date: the end of that day).",
)
@click.option("--to", metavar="Y", type=MOMENT, help="Later knowledge date (default: now).")
@click.option("--members", "list_members", is_flag=True, help="List the members whose answer changed instead.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="With --members: csv (default) or jsonl.")
@click.option("--as-recorded-at", metavar="Y", type=MOMENT, help="Only facts recorded at or before Y, at both ends.")
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
        before = await horizon_at(store, from_, "--from", as_recorded_at)
        after = await horizon_at(store, to, "--to", as_recorded_at)
        if list_members:
            rows = await story.changed_members(store, incident, before, after)
            await _write_changes(rows, fmt or ("jsonl" if as_json else "csv"))
            return
        data = await story.diff(store, incident, before, after)
        emit_json(data) if as_json else _render_diff(data, store)

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
                    cell(text)  # text a spreadsheet would run as a formula gets a leading '
                    for text in (
                        row["incident"],
                        row["insurer"],
                        row["ref"],
                        row["change"],
                        row["before"]["status"] or "",
                        ";".join(row["before"]["fields"]),
                        row["after"]["status"] or "",
                        ";".join(row["after"]["fields"]),
                    )
                ]
            )
    sys.stdout.flush()


def _render_diff(data: dict[str, Any], store: Store) -> None:
    tz = store.tz
    header = _("{incident}: what changed from {start} to {end}").format(
        incident=f"[bold]{data['incident']}[/bold]",
        start=tables.when(data["from"], tz),
        end=tables.when(data["to"], tz),
    )
    if data.get("as_recorded_at"):
        header += ", " + _("as recorded at {moment}").format(moment=tables.when(data["as_recorded_at"], tz))
    out.print(f"{header} ({tz.key})")
    table = Table(show_header=True)
    table.add_column(_("what"))
    table.add_column(_("change"))
    table.add_column(_("which"), justify="left")
    for key, label in (("newly_affected", _("newly affected")), ("newly_ruled_out", _("newly ruled out"))):
        table.add_row(_("insurers"), label, _list(data["insurers"][key]))
    for key, label in (("newly_exposed", _("newly exposed")), ("newly_ruled_out", _("newly ruled out"))):
        table.add_row(_("fields"), label, _list(data["fields"][key]))
    member_labels = {
        "newly_affected": _("newly affected"),
        "no_longer_affected": _("no longer affected"),
        "fields_changed": _("fields changed"),
    }
    for key in story.MEMBER_CHANGES:
        table.add_row(_("members"), member_labels.get(key, key.replace("_", " ")), f"{data['members'][key]:,}")
    out.print(table)


# -- timeline ---------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@horizon_options
def timeline(incident: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool) -> None:
    """The knowledge history: one row per knowledge time that changed an answer.

    A row lists the facts known at that time (retractions too, with the facts they hid),
    the members affected, the fields exposed and the insurers' statuses from then on.

    \b
    Example:
      exposure timeline --incident viamedis-2024-01 --as-recorded-at 2024-02-10 --json
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        entries = await story.timeline(store, incident, h)
        if as_json:
            emit_json(entries)
            return
        notices = await story.notifications(store, incident, h)
        _render_timeline(incident, h.header(), entries, notices, store)

    run(go())


def _notice_text(notice: dict[str, Any]) -> str:
    """`CNIL notified (initial) for malakoff-humanis`, `members of alan notified (e-mail)`."""
    if notice["kind"] == "authority-notified":
        text = _("{authority} notified").format(authority=notice["authority"])
        if notice.get("phase"):
            phases = {"initial": _("initial"), "complementary": _("complementary")}
            text += f" ({phases.get(notice['phase'], notice['phase'])})"
        if notice.get("insurer"):
            text += " " + _("for {insurer}").format(insurer=notice["insurer"])
    else:
        whom = _("every affected member") if notice["every_member"] else _("named members")
        text = _("members of {insurer} notified ({whom})").format(insurer=notice["insurer"], whom=whom)
        if notice.get("channel"):
            text += f", {notice['channel']}"
    if notice["retracted"]:
        text += " " + _("[retracted]")
    return text


def _render_timeline(
    incident: str,
    horizon: dict[str, str],
    entries: list[dict[str, Any]],
    notices: list[dict[str, Any]],
    store: Store,
) -> None:
    tz = store.tz
    title = _("{incident}: what was known, and when").format(incident=incident)
    table = Table(title=f"{title}, {tables.horizon(horizon, tz)}", title_justify="left")
    columns = (
        _("known on"),
        _("members affected"),
        _("fields exposed"),
        _("insurers affected"),
        _("notification"),
        _("facts"),
        _("retracted"),
    )
    ids: list[str] = [n["id"] for n in notices]
    for entry in entries:
        ids.extend(entry["facts"][:3])
    for number, column in enumerate(columns):
        if number == 5:
            tables.id_column(table, column, ids)
        elif number in (0, 4):
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right" if number in (1, 3) else "left", overflow="fold")
    rows: list[tuple[str, int, tuple[str, ...]]] = []
    for entry in entries:
        facts = entry["facts"]
        shown = ", ".join(facts[:3]) + (
            " " + _("and {count} more").format(count=len(facts) - 3) if len(facts) > 3 else ""
        )
        rows.append(
            (
                entry["known_on"],
                0,
                (
                    _local(entry["known_on"], tz),
                    f"{entry['members_affected']:,}",
                    _list(entry["fields_exposed"]),
                    str(len(entry["insurers"]["affected"])),
                    "",
                    shown,
                    _list(entry["retracted"]),
                ),
            )
        )
    for notice in notices:
        rows.append(
            (
                notice["known_on"],
                1,
                (
                    _local(notice["known_on"], tz),
                    "",
                    "",
                    "",
                    _notice_text(notice),
                    notice["id"],
                    "",
                ),
            )
        )
    rows.sort(key=lambda row: (times.parse_instant(row[0], "time", tz), row[1]))
    for _key, _order, cells in rows:
        table.add_row(*cells)
    tables.print_table(table)


# -- obligations ------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@rules_option("Which deadline rule to apply (versioned data, see docs/HISTORY.md).")
@horizon_options
def obligations(
    incident: str, rule_id: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool
) -> None:
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
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        data = await story.obligations(store, incident, h, rules.rule(rule_id))
        emit_json(data) if as_json else _render_obligations(data, store)

    run(go())


STATUS_STYLE: Final = {"on-time": "green", "late": "red", "pending": "yellow", "overdue": "bold red"}


def _render_obligations(data: dict[str, Any], store: Store) -> None:
    rule = data["rule"]
    out.print(
        f"[bold]{data['incident']}[/bold] {tables.horizon(data, store.tz)}: "
        + _("{article}, {hours} hours").format(article=rule["article"], hours=rule["hours"])
    )
    table = Table(show_header=True)
    columns = (
        _("insurer"),
        _("aware at"),
        _("deadline"),
        _("authority notified"),
        _("members notified"),
        _("status"),
        _("never notified"),
        _("notified before change"),
    )
    for number, column in enumerate(columns):
        table.add_column(column, justify="right" if number >= 6 else "left")
    for entry in data["insurers"]:
        style = STATUS_STYLE[entry["status"]]
        table.add_row(
            entry["insurer"],
            _local(entry["aware_at"], store.tz),
            _local(entry["deadline"], store.tz),
            _local(entry["authority_notified_at"], store.tz),
            _local(entry["members_notified_at"], store.tz),
            f"[{style}]{tables.status_word(entry['status'])}[/{style}]",
            f"{entry['members_never_notified']:,}",
            f"{entry['members_notified_before_change']:,}",
        )
    out.print(table)
    if data["ruled_out"]:
        out.print(_("Ruled out, nothing to notify: {insurers}").format(insurers=_list(data["ruled_out"])))


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
@knowledge_options
def export_veris(
    incident: str, country: str, industry: str, as_known_on: str | None, as_recorded_at: str | None
) -> None:
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
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        found = await story.veris(store, incident, h, country=country, industry=industry)
        emit_json(veris.record(found))

    run(go())
