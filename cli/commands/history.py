"""Knowledge over time on the command line: `diff`, `timeline`, `obligations` and
`export veris` (`report` lives in `cli.commands.report`); named in `cli.main.COMMANDS`.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncGenerator
from typing import Any, Final

import click

from cli.emit import CSV, TABLE, csv_row, csv_writer, emit, output_options
from cli.render import history as draw
from cli.shell import MOMENT, emit_json, emit_json_line, horizon_at, knowledge_options, rules_option, run, with_store
from domain import obligations as rules
from domain import veris
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

TIMELINE_COLUMNS: Final = (
    "known_on",
    "facts",
    "retracted",
    "members_affected",
    "fields_exposed",
    "insurers_affected",
    "insurers_ruled_out",
    "insurers_informed",
)
"""`timeline --csv`: one line per knowledge time (lists joined with `;`)."""
OBLIGATION_COLUMNS: Final = (
    "insurer",
    "insurer_status",
    "aware_at",
    "aware_because",
    "deadline",
    "authority_notified_at",
    "members_notified_at",
    "status",
    "members_never_notified",
    "members_notified_before_change",
)
"""`obligations --csv`: one line per insurer with a duty."""


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="With --members: csv (default) or jsonl (also --csv, --jsonl).",
)
@click.option("--as-recorded-at", metavar="Y", type=MOMENT, help="Only facts recorded at or before Y, at both ends.")
@output_options(rows=True)
def diff(
    incident: str,
    from_: str,
    to: str | None,
    list_members: bool,
    fmt: str | None,
    as_recorded_at: str | None,
    output: str,
) -> None:
    """What changed in knowledge between two dates: insurers, fields, member counts.

    With --members, stream the members whose answer changed (became affected, stopped
    being affected, or had their exposed fields changed), with their answer before and
    after: the list for a complementary notification.

    \b
    Examples:
      exposure diff --incident viamedis-2024-01 --from 2024-02-01 --to 2024-02-08 --json
      exposure diff --incident viamedis-2024-01 --from 2024-02-01 --members --jsonl
    """
    if fmt is not None and not list_members:
        raise click.UsageError("--format applies only with --members")
    if output == CSV and not list_members:
        raise click.UsageError("--csv applies only with --members (the answer's rows)")

    @with_store
    async def go(store: Store) -> None:
        before = await horizon_at(store, from_, "--from", as_recorded_at)
        after = await horizon_at(store, to, "--to", as_recorded_at)
        if list_members:
            rows = await story.changed_members(store, incident, before, after)
            await _write_changes(rows, fmt or ("csv" if output in (TABLE, CSV) else "jsonl"))
            return
        data = await story.diff(store, incident, before, after)
        emit(data, output, table=lambda: draw.diff(data, store.tz))

    run(go())


async def _write_changes(rows: AsyncGenerator[dict[str, Any], None], fmt: str) -> None:
    """The changed members as CSV (`CHANGE_COLUMNS`) or JSON Lines, streamed."""
    writer = csv_writer(CHANGE_COLUMNS) if fmt == "csv" else None
    async with contextlib.aclosing(rows):  # closed before the store, even when the reader goes away
        async for row in rows:
            if writer is None:
                emit_json_line(row)
            else:
                writer.writerow(csv_row(row, CHANGE_COLUMNS))
    sys.stdout.flush()


# -- timeline ---------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@knowledge_options
@output_options(rows=True)
def timeline(incident: str, as_known_on: str | None, as_recorded_at: str | None, output: str) -> None:
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
        notices = await story.notifications(store, incident, h) if output == TABLE else []
        emit(
            entries,
            output,
            table=lambda: draw.timeline(incident, story.as_of(h), entries, notices, store.tz),
            rows=list,
            columns=TIMELINE_COLUMNS,
        )

    run(go())


# -- obligations ------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@rules_option("Which deadline rule to apply (versioned data, see docs/HISTORY.md).")
@knowledge_options
@output_options(rows=True)
def obligations(incident: str, rule_id: str, as_known_on: str | None, as_recorded_at: str | None, output: str) -> None:
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
        emit(
            data,
            output,
            table=lambda: draw.obligations(data, store.tz),
            rows=lambda answer: answer["insurers"],
            columns=OBLIGATION_COLUMNS,
        )

    run(go())


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
