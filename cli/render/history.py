"""Tables for knowledge over time: `diff`, `timeline` (with the notices) and `obligations`."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from rich.table import Table

from cli.i18n import _
from cli.render import tables
from cli.shell import out
from domain import times
from domain.answers import AsOf, Diff, NotificationShown, Obligations, TimelineEntry

_local = tables.stamp
_list = tables.listed


def diff(answer: Diff, tz: ZoneInfo) -> None:
    """What changed between two horizons, as a table."""
    header = _("{incident}: what changed from {start} to {end}").format(
        incident=f"[bold]{answer.incident}[/bold]",
        start=tables.when(answer.start, tz),
        end=tables.when(answer.end, tz),
    )
    if isinstance(answer.as_recorded_at, str):
        header += ", " + _("as recorded at {moment}").format(moment=tables.when(answer.as_recorded_at, tz))
    out.print(f"{header} ({tz.key})")
    table = Table(show_header=True)
    table.add_column(_("what"))
    table.add_column(_("change"))
    table.add_column(_("which"), justify="left")
    insurers, fields = answer.insurers, answer.fields
    table.add_row(_("insurers"), _("newly affected"), _list(insurers.newly_affected))
    table.add_row(_("insurers"), _("newly ruled out"), _list(insurers.newly_ruled_out))
    table.add_row(_("fields"), _("newly exposed"), _list(fields.newly_exposed))
    table.add_row(_("fields"), _("newly ruled out"), _list(fields.newly_ruled_out))
    member_labels = {
        "newly_affected": _("newly affected"),
        "no_longer_affected": _("no longer affected"),
        "fields_changed": _("fields changed"),
    }
    for key, count in tables.items(answer.members):
        table.add_row(_("members"), member_labels.get(key, key.replace("_", " ")), f"{count:,}")
    out.print(table)


def _notice_text(notice: NotificationShown) -> str:
    """`CNIL notified (initial) for malakoff-humanis`, `members of alan notified (e-mail)`."""
    if notice.kind == "authority-notified":
        text = _("{authority} notified").format(authority=notice.authority)
        if notice.phase:
            phases = {"initial": _("initial"), "complementary": _("complementary")}
            text += f" ({phases.get(notice.phase, notice.phase)})"
        if notice.insurer:
            text += " " + _("for {insurer}").format(insurer=notice.insurer)
    else:
        whom = _("every affected member") if notice.every_member else _("named members")
        text = _("members of {insurer} notified ({whom})").format(insurer=notice.insurer, whom=whom)
        if notice.channel:
            text += f", {notice.channel}"
    if notice.retracted:
        text += " " + _("[retracted]")
    return text


def timeline(
    incident: str,
    horizon: AsOf,
    entries: list[TimelineEntry],
    notices: list[NotificationShown],
    tz: ZoneInfo,
) -> None:
    """The knowledge history, with the notices, in time order."""
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
    ids: list[str] = [n.id for n in notices]
    for entry in entries:
        ids.extend(entry.facts[:3])
    for number, column in enumerate(columns):
        if number == 5:
            tables.id_column(table, column, ids)
        elif number in (0, 4):
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right" if number in (1, 3) else "left", overflow="fold")
    rows: list[tuple[str, int, tuple[str, ...]]] = []
    for entry in entries:
        facts = entry.facts
        shown = ", ".join(facts[:3]) + (
            " " + _("and {count} more").format(count=len(facts) - 3) if len(facts) > 3 else ""
        )
        rows.append(
            (
                entry.known_on,
                0,
                (
                    _local(entry.known_on, tz),
                    f"{entry.members_affected:,}",
                    _list(entry.fields_exposed),
                    str(len(entry.insurers.affected)),
                    "",
                    shown,
                    _list(entry.retracted),
                ),
            )
        )
    for notice in notices:
        rows.append(
            (
                notice.known_on,
                1,
                (
                    _local(notice.known_on, tz),
                    "",
                    "",
                    "",
                    _notice_text(notice),
                    notice.id,
                    "",
                ),
            )
        )
    rows.sort(key=lambda row: (times.parse_instant(row[0], "time", tz), row[1]))
    for _key, _order, cells in rows:
        table.add_row(*cells)
    tables.print_table(table)


STATUS_STYLE: Final = {"on-time": "green", "late": "red", "pending": "yellow", "overdue": "bold red"}


def obligations(answer: Obligations, tz: ZoneInfo) -> None:
    """Per insurer: awareness, deadline, notices and status."""
    rule = answer.rule
    out.print(
        f"[bold]{answer.incident}[/bold] {tables.horizon(answer, tz)}: "
        + _("{article}, {hours} hours").format(article=rule.article, hours=rule.hours)
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
    for entry in answer.insurers:
        style = STATUS_STYLE[entry.status]
        table.add_row(
            entry.insurer,
            _local(entry.aware_at, tz),
            _local(entry.deadline, tz),
            _local(entry.authority_notified_at, tz),
            _local(entry.members_notified_at, tz),
            f"[{style}]{tables.status_word(entry.status)}[/{style}]",
            f"{entry.members_never_notified:,}",
            f"{entry.members_notified_before_change:,}",
        )
    out.print(table)
    if answer.ruled_out:
        out.print(_("Ruled out, nothing to notify: {insurers}").format(insurers=_list(answer.ruled_out)))
