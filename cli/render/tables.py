"""Human renderings of query answers (rich tables). JSON is rendered by `shell.emit_json`.

One clock for people: every time shown is in the ledger's time zone (`init --timezone`),
to the minute, and each screen names the zone once, in its header line. JSON keeps UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol
from zoneinfo import ZoneInfo

from msgspec import UnsetType, structs

from cli.i18n import _, language
from cli.shell import out
from domain import times
from domain.answers import Insurer, Member, NotKnown, Summary
from domain.categories import BY_NAME

if TYPE_CHECKING:  # rich's tables load when a table is drawn: `member` prints lines only (start-up time)
    from rich.table import Table


class Dated(Protocol):
    """An answer's horizon: as known on X (as recorded at Y)."""

    @property
    def as_known_on(self) -> str: ...

    @property
    def as_recorded_at(self) -> str | UnsetType: ...


def items(answer: Any) -> list[tuple[str, Any]]:
    """A Struct's fields and values, in order (as its JSON keys)."""
    return list(structs.asdict(answer).items())


def _month(number: int) -> str:
    # The twelve names spelled out so that the catalog extractor sees each of them.
    names = (
        _("Jan"), _("Feb"), _("Mar"), _("Apr"), _("May"), _("Jun"),
        _("Jul"), _("Aug"), _("Sep"), _("Oct"), _("Nov"), _("Dec"),
    )  # fmt: skip
    return names[number - 1]


def _moment(value: str | datetime, tz: ZoneInfo) -> datetime:
    moment = times.parse_instant(value, "time", tz) if isinstance(value, str) else value
    return moment.astimezone(tz)


def stamp(value: str | datetime | None, tz: ZoneInfo) -> str:
    """A time for a table cell: `2024-02-01 23:59` in the ledger's zone; `—` when absent."""
    if value is None:
        return "—"
    return _moment(value, tz).strftime("%Y-%m-%d %H:%M")


def when(value: str | datetime, tz: ZoneInfo) -> str:
    """A time in a sentence: `1 Feb 2024 23:59` in the ledger's zone (the zone is named by the header)."""
    moment = _moment(value, tz)
    return f"{moment.day} {_month(moment.month)} {moment.year} {moment:%H:%M}"


def horizon(answer: Dated, tz: ZoneInfo) -> str:
    """`as known on 1 Feb 2024 23:59, as recorded at 10 Feb 2024 09:00 (Europe/Paris)`."""
    text = _("as known on {moment}").format(moment=when(answer.as_known_on, tz))
    if isinstance(answer.as_recorded_at, str):
        text += ", " + _("as recorded at {moment}").format(moment=when(answer.as_recorded_at, tz))
    return f"{text} ({tz.key})"


def not_known(answer: NotKnown, tz: ZoneInfo) -> None:
    """An incident asked about before any of its facts is known."""
    text = _("{incident} was not known as of {moment}").format(
        incident=answer.incident, moment=when(answer.as_known_on, tz)
    )
    if isinstance(answer.as_recorded_at, str):
        text += ", " + _("as recorded at {moment}").format(moment=when(answer.as_recorded_at, tz))
    out.print(f"{text} ({tz.key}).")


def category_label(name: str) -> str:
    """A category's label from the category table, in the current language (a category
    defined by a fact shows its name)."""
    found = BY_NAME.get(name)
    return found.label_in(language()) if found else name


def listed(values: list[str] | None) -> str:
    """Comma-separated values, or `—`."""
    return ", ".join(values) if values else "—"


def status_word(status: str) -> str:
    """A status as people read it (`ruled-out` → `ruled out`), translated."""
    words = {
        "affected": _("affected"),
        "ruled-out": _("ruled out"),
        "ruled_out": _("ruled out"),
        "informed": _("informed"),
        "unknown": _("unknown"),
        "confirmed": _("confirmed"),
        "presumed": _("presumed"),
        "not-affected": _("not affected"),
        "exposed": _("exposed"),
        "suspected": _("suspected"),
        "people": _("people"),
        "on-time": _("on time"),
        "late": _("late"),
        "pending": _("pending"),
        "overdue": _("overdue"),
    }
    return words.get(status, status)


def summary(answer: Summary | NotKnown, tz: ZoneInfo) -> None:
    """The summary of an incident as known on a date."""
    from rich.table import Table  # noqa: PLC0415 - see the imports

    if isinstance(answer, NotKnown):
        not_known(answer, tz)
        return
    out.print(f"[bold]{answer.incident}[/bold] {horizon(answer, tz)}")
    insurers = Table(title=_("Insurers"), show_header=True, title_justify="left")
    insurers.add_column(_("status"))
    insurers.add_column(_("count"), justify="right")
    insurers.add_column(_("insurers"))
    for status, ids in items(answer.insurers):
        insurers.add_row(status_word(status), str(len(ids)), listed(ids))
    out.print(insurers)
    members = Table(title=_("Members"), show_header=True, title_justify="left")
    counts = items(answer.members)
    for key, _count in counts:
        members.add_column(status_word(key), justify="right")
    members.add_row(*(f"{v:,}" for _key, v in counts))
    out.print(members)
    fields = Table(title=_("Field categories"), show_header=True, title_justify="left")
    fields.add_column(_("status"))
    fields.add_column(_("categories"))
    for status, cats in items(answer.fields):
        fields.add_row(status_word(status), listed(cats))
    out.print(fields)


def insurer(answer: Insurer | NotKnown, tz: ZoneInfo) -> None:
    """One insurer in one incident."""
    from rich.table import Table  # noqa: PLC0415 - see the imports

    if isinstance(answer, NotKnown):
        not_known(answer, tz)
        return
    name = f" ({answer.name})" if answer.name else ""
    out.print(
        f"[bold]{answer.insurer}{name}[/bold] "
        + _("in {incident}").format(incident=answer.incident)
        + f" {horizon(answer, tz)}"
    )
    out.print(
        _("status: {status}  because: {facts}").format(
            status=f"[bold]{status_word(answer.status)}[/bold]", facts=listed(answer.because)
        )
    )
    scope = answer.scope
    if scope:
        parts = [f"{k}={v}" for k, v in items(scope) if v is not None and k != "fact"]
        out.print(_("scope: {criteria} (fact {fact})").format(criteria="; ".join(parts), fact=scope.fact))
    else:
        out.print(_("scope: every member"))
    exposed = _("exposed: {categories}").format(categories=listed(answer.exposed))
    if answer.implied:
        exposed += "  " + _("(implied by nir: {categories})").format(categories=listed(answer.implied))
    out.print(exposed)
    ruled_out = sorted(c for c, s in answer.fields.items() if s == "ruled-out")
    out.print(_("ruled out: {categories}").format(categories=listed(ruled_out)))
    known = [(c, s) for c, s in answer.fields.items() if s != "unknown"]
    if known:
        fields = Table(title=_("Field categories"), show_header=True, title_justify="left")
        fields.add_column(_("category"), no_wrap=True)
        fields.add_column(_("label"))
        fields.add_column(_("status"), no_wrap=True)
        for category, status in known:
            fields.add_row(category, category_label(category), status_word(status))
        out.print(fields)
    members = Table(show_header=True)
    counts = items(answer.members)
    for key, _count in counts:
        members.add_column(_("memberships") if key == "memberships" else status_word(key), justify="right")
    members.add_row(*(f"{v:,}" for _key, v in counts))
    out.print(members)
    for label, value in (
        (_("informed at"), answer.informed_at),
        (_("authority notified at"), answer.authority_notified_at),
        (_("members notified at"), answer.members_notified_at),
    ):
        out.print(_("{label}: {value}").format(label=label, value=stamp(value, tz)))


def id_column(table: Table, header: str, values: list[str], justify: str = "left") -> None:
    """A column of ids a later command needs (or times, numbers): never cut, never folded."""
    widest = max((len(v) for v in values), default=1)
    table.add_column(
        header,
        no_wrap=True,
        overflow="ignore",
        min_width=max(widest, len(header)),
        justify=justify,  # type: ignore[arg-type]
    )


ROOM: Final = 80
"""Columns beside the id columns of a wide table get at least this much room in all."""


def print_table(table: Table) -> None:
    """Print a table with id columns whole: as wide as the screen, or wider when its ids need it
    (a line then runs past a narrow screen rather than cut an id someone must copy)."""
    from rich.measure import Measurement  # noqa: PLC0415 - see the imports

    needed = Measurement.get(out, out.options.update_width(100_000), table)
    screen = out.width
    out.width = max(screen, min(needed.maximum, needed.minimum + ROOM))
    try:
        out.print(table)
    finally:
        out.width = screen


def member(answer: Member, tz: ZoneInfo) -> None:
    """Every membership of a person, per incident: one block each, so that no id is ever cut."""
    if not answer.memberships:
        out.print(_("No membership found {horizon}.").format(horizon=horizon(answer, tz)))
        return
    out.print(horizon(answer, tz)[:1].upper() + horizon(answer, tz)[1:])
    for membership in answer.memberships:
        who = f"[bold]{membership.insurer} {membership.ref}[/bold]"
        if not membership.incidents:
            out.print(who + ": " + _("enrolled, no incident known"))
        for found in membership.incidents:
            out.print(
                f"{who} "
                + _("in {incident}: {status}").format(
                    incident=found.incident, status=f"[bold]{status_word(found.status)}[/bold]"
                )
            )
            if found.fields:
                out.print("  " + _("fields: {categories}").format(categories=listed(found.fields)))
            if found.implied:
                out.print("  " + _("implied by nir: {categories}").format(categories=listed(found.implied)))
            out.print("  " + _("because: {facts}").format(facts=listed(found.because)))


def evolution(incident: str, answers: list[Summary | NotKnown], tz: ZoneInfo) -> None:
    """How the answer about one incident changed from date to date (the demo's view)."""
    from rich.table import Table  # noqa: PLC0415 - see the imports

    table = Table(
        title=_("{incident}: what was known, date by date ({zone})").format(incident=incident, zone=tz.key),
        title_justify="left",
        show_header=True,
    )
    columns = (
        (_("as known on"), "left"),
        (_("insurers affected"), "right"),
        (_("insurers ruled out"), "right"),
        (_("insurers informed"), "right"),
        (_("members affected"), "right"),
        (_("people"), "right"),
        (_("exposed"), "left"),
        (_("ruled out"), "left"),
        (_("suspected"), "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for answer in answers:
        if isinstance(answer, NotKnown):
            table.add_row(stamp(answer.as_known_on, tz)[:10], *(["—"] * 8))
            continue
        insurers, members, fields = answer.insurers, answer.members, answer.fields
        table.add_row(
            stamp(answer.as_known_on, tz)[:10],
            str(len(insurers.affected)),
            str(len(insurers.ruled_out)),
            str(len(insurers.informed)),
            f"{members.affected:,}",
            f"{members.people:,}",
            listed(fields.exposed),
            listed(fields.ruled_out),
            listed(fields.suspected),
        )
    out.print(table)


def evolution_legend() -> None:
    """What the demo table's words mean."""
    out.print(_("Legend:"))
    for line in (
        _("  informed: the operator told the insurer, which is not yet confirmed affected or ruled out"),
        _("  members affected: confirmed by a member-level finding, or presumed (insurer affected, member in scope)"),
        _("  people: members affected counted once per person (the same NIR at several insurers)"),
        _("  exposed / ruled out / suspected: the field categories' status for the incident as a whole"),
    ):
        out.print(line)
