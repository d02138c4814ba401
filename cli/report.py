"""`exposure report`: one self-contained HTML page about an incident.

The page loads nothing from the network: styles are inline, the chart is inline SVG.
It shows, as known on X (and as recorded at Y):
- a chart of members affected and fields exposed over knowledge time, with every fact
  bearing on the incident as a marker and retractions drawn in red;
- the summary, the notification obligations, the knowledge timeline and the sources.

`gather` reads the answers; `page` is a pure function from those answers to HTML.
"""

from __future__ import annotations

import html
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import click

from cli.i18n import N_, _, language, ngettext
from cli.render import category_label, status_word
from cli.shell import emit_json, force_option, horizon_at, horizon_options, output_to, rules_option, run, with_store
from domain import obligations as rules
from domain.errors import InvalidFact
from domain.facts import AttackDiscovered, FactRetracted, insurer_of
from domain.times import from_micros, iso_utc, to_minute
from usecases import history as story
from usecases.session import Horizon, Store

MESSAGES: Final = (
    N_("Exposure report"),
    N_("Field categories"),
    N_("Knowledge timeline"),
    N_("No insurer has a notification duty yet."),
    N_("Notification obligations"),
    N_("Sources"),
    N_("Summary"),
    N_("What was known, and when"),
    N_("authority notified"),
    N_("aware at"),
    N_("confidence"),
    N_("count"),
    N_("deadline"),
    N_("fact"),
    N_("facts"),
    N_("fields exposed"),
    N_("ids"),
    N_("insurer"),
    N_("kind"),
    N_("known on"),
    N_("members notified"),
    N_("never notified"),
    N_("none"),
    N_("notified before change"),
    N_("retracted"),
    N_("roster of"),
    N_("source"),
    N_("status"),
    N_("{article}: {hours} hours from awareness, computed in UTC."),
)
"""Messages written inside f-strings below, listed here for the catalog extractor (docs/I18N.md)."""


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Marker:
    """A fact on the chart and in the sources."""

    id: str
    kind: str
    known: datetime
    occurred: datetime
    source: str | None
    confidence: str | None
    insurer: str | None
    retracts: str | None
    """For a retraction: the id of the fact it hides."""
    retracted_by: str | None
    """The retraction hiding this fact at the horizon, if any."""


async def gather(store: Store, incident: str, h: Horizon, rule: rules.Rule) -> dict[str, Any]:
    """Every answer the page shows (`usecases.history.report`), with the facts as chart markers."""
    found = await story.report(store, incident, h, rule)
    summary, view, entries, duties, rows = found.summary, found.view, found.timeline, found.obligations, found.facts
    hidden_by = {r.fact.fact: r.fact.id for r in rows if isinstance(r.fact, FactRetracted)}
    opening = next((r for r in rows if isinstance(r.fact, AttackDiscovered)), None)
    markers = [
        Marker(
            id=r.fact.id,
            kind=r.kind,
            known=from_micros(r.known_us),
            occurred=r.fact.occurred_on,
            source=r.fact.source,
            confidence=r.fact.confidence,
            insurer=insurer_of(r.fact),
            retracts=r.fact.fact if isinstance(r.fact, FactRetracted) else None,
            retracted_by=hidden_by.get(r.fact.id),
        )
        for r in rows
    ]
    return {
        "incident": incident,
        "title": view.title,
        "operator": view.operator,
        "attack_began": view.attack_began,
        "opened_at": from_micros(opening.known_us) if opening else None,
        "tz": store.tz,
        "summary": summary,
        "timeline": entries,
        "obligations": duties,
        "markers": markers,
        "rosters": [m for m in markers if m.kind == "members-enrolled"],
        "generated_at": datetime.now(UTC),
    }


# -- the command ------------------------------------------------------------------------


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--html", "html_file", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@force_option
@rules_option("Deadline rule for the obligations table.")
@horizon_options
def report(
    incident: str,
    html_file: str,
    force: bool,
    rule_id: str,
    as_known_on: str | None,
    as_recorded_at: str | None,
    as_json: bool,
) -> None:
    """Write a self-contained HTML page: timeline chart, summary, obligations, sources.

    An existing FILE is replaced only with --force (never the store or a key file).

    \b
    Example:
      exposure report --incident viamedis-2024-01 --html viamedis.html --as-known-on 2024-02-16
    """

    @with_store
    async def go(store: Store) -> None:
        target = Path(html_file)
        with output_to(html_file, "--html", force=force) as sink:  # written whole or not at all
            h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
            data = await gather(store, incident, h, rules.rule(rule_id))
            if not data["summary"].get("known", True):
                moment = to_minute(h.as_known_on, store.tz)
                raise InvalidFact(f"{incident} was not known as of {moment} ({store.tz.key}): no report to write")
            text = page(data)
            sink.write(text)
        if as_json:
            emit_json({"incident": incident, "html": str(target), "bytes": len(text.encode()), **h.header()})
        else:
            click.echo(
                _("Wrote {file} ({facts} facts, {changes} knowledge changes)").format(
                    file=target, facts=len(data["markers"]), changes=len(data["timeline"])
                )
            )

    run(go())


# -- the page ---------------------------------------------------------------------------

KIND_GROUPS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("incident", "#111827", ("attack-discovered",)),
    ("insurers", "#2563eb", ("insurer-informed", "insurer-confirmed-affected", "insurer-ruled-out")),
    ("scope", "#0891b2", ("scope-defined",)),
    ("fields", "#d97706", ("field-suspected", "field-ruled-in", "field-ruled-out")),
    ("members", "#7c3aed", ("members-enrolled", "members-confirmed-affected", "members-ruled-out")),
    ("notifications", "#059669", ("authority-notified", "members-notified")),
    ("retractions", "#dc2626", ("fact-retracted",)),
)


def legend_word(name: str) -> str:
    """A chart legend entry in the current language."""
    words = {
        "incident": _("incident"),
        "insurers": _("insurers"),
        "scope": _("scope"),
        "fields": _("fields"),
        "members": _("members"),
        "notifications": _("notifications"),
        "retractions": _("retractions"),
    }
    return words.get(name, name)


OTHER_COLOUR: Final = "#6b7280"
MEMBERS_COLOUR: Final = "#2563eb"
FIELDS_COLOUR: Final = "#ea580c"
STATUS_CLASS: Final = {"on-time": "ok", "late": "bad", "pending": "warn", "overdue": "bad"}


def colour(kind: str) -> str:
    """The marker colour of a fact kind."""
    for _name, value, kinds in KIND_GROUPS:
        if kind in kinds:
            return value
    return OTHER_COLOUR


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _local(moment: datetime | str | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(tz).strftime(fmt)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


STYLE: Final = """
:root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --soft: #f8fafc; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: var(--ink);
  font: 15px/1.5 "Inter", "Segoe UI", "Helvetica Neue", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 32px 28px 48px; }
header { margin-bottom: 20px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--accent);
  font-weight: 600; margin: 0; }
h1 { font-size: 28px; line-height: 1.25; margin: 4px 0 6px; }
h2 { font-size: 18px; margin: 0 0 12px; }
.meta { color: var(--muted); margin: 0; font-size: 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 20px 22px; margin: 16px 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px; }
.card .value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: 13px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 8px; }
svg text { font-family: inherit; }
table { width: 100%; border-collapse: collapse; font-size: 13.5px; }
th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
code { font: 12.5px/1.4 "DejaVu Sans Mono", "Liberation Mono", monospace; background: var(--soft);
  padding: 1px 4px; border-radius: 4px; }
.chip { display: inline-block; padding: 1px 8px; margin: 2px 4px 2px 0; border-radius: 999px; font-size: 12.5px;
  border: 1px solid; }
.chip.exposed { color: #b91c1c; border-color: #fecaca; background: #fef2f2; }
.chip.suspected { color: #92400e; border-color: #fde68a; background: #fffbeb; }
.chip.ruled_out { color: #374151; border-color: #e5e7eb; background: #f9fafb; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 6px; font-size: 12.5px; font-weight: 600; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.warn { background: #fef3c7; color: #92400e; }
.badge.bad { background: #fee2e2; color: #991b1b; }
.struck { text-decoration: line-through; color: var(--muted); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.note { color: var(--muted); font-size: 13px; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 20px; }
"""


def CAPTION() -> str:  # noqa: N802 - a message, looked up when the page is written
    return _(
        "Members affected (blue, left axis) and field categories exposed (orange, right axis) as knowledge grew."
        " Each dot below the chart is a fact, at the time it became known; red crosses are retractions, and the"
        " facts they hid are drawn hollow. Hover a dot for its id."
    )


def TIMELINE_NOTE() -> str:  # noqa: N802 - a message, looked up when the page is written
    return _(
        "One row per knowledge time that changed an answer: members affected, fields exposed or an insurer's"
        " status. Retracted facts are struck through."
    )


def FOOTER() -> str:  # noqa: N802 - a message with markup, looked up when the page is written
    return _(
        "Generated by exposure {version} on {moment} ({zone}) from the ledger's facts alone. Every number can be"
        " reproduced with <code>exposure summary</code>, <code>timeline</code> and <code>obligations</code> at the"
        " same horizon."
    )


def page(data: dict[str, Any]) -> str:
    """The whole HTML page."""
    tz: ZoneInfo = data["tz"]
    summary = data["summary"]
    title = data["title"] or data["incident"]
    horizon = _("as known on {moment}").format(moment=_local(summary["as_known_on"], tz))
    if "as_recorded_at" in summary:
        horizon += ", " + _("as recorded at {moment}").format(moment=_local(summary["as_recorded_at"], tz))
    meta = " · ".join(
        part
        for part in (
            f"<code>{_e(data['incident'])}</code>",
            _e(_("operator {operator}").format(operator=data["operator"])) if data["operator"] else "",
            _e(_("attack began {day}").format(day=_local(data["attack_began"], tz, "%Y-%m-%d")))
            if data["attack_began"]
            else "",
            _e(horizon),
            _e(_("times in {zone}").format(zone=tz.key)),
        )
        if part
    )
    version = importlib.metadata.version("exposure-ledger")
    return f"""<!doctype html>
<html lang="{language()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(_("Exposure report"))}: {_e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<p class="eyebrow">{_e(_("Exposure report"))}</p>
<h1>{_e(title)}</h1>
<p class="meta">{meta}</p>
</header>
{_cards(summary)}
<section id="chart">
<h2>{_e(_("What was known, and when"))}</h2>
<figure>
{chart(data)}
<figcaption>{_e(CAPTION())}</figcaption>
</figure>
</section>
{_summary(summary)}
{_obligations(data["obligations"], tz)}
{_timeline_table(data["timeline"], tz)}
{_sources(data["markers"], tz)}
<footer>{FOOTER().format(version=_e(version), moment=_local(data["generated_at"], tz), zone=_e(tz.key))}</footer>
</main>
</body>
</html>
"""


def _cards(summary: dict[str, Any]) -> str:
    members, insurers, fields = summary["members"], summary["insurers"], summary["fields"]
    cards = (
        (_n(members["affected"]), _("members affected")),
        (_n(members["people"]), _("people (distinct NIRs)")),
        (_n(len(insurers["affected"])), _("insurers affected")),
        (_n(len(fields["exposed"])), _("field categories exposed")),
    )
    body = "".join(
        f'<div class="card"><div class="value">{v}</div><div class="label">{_e(k)}</div></div>' for v, k in cards
    )
    return f'<section class="cards">{body}</section>'


def _summary(summary: dict[str, Any]) -> str:
    insurer_rows = "".join(
        f"<tr><td>{_e(status_word(status))}</td><td class='num'>{len(ids)}</td>"
        f"<td>{', '.join(f'<code>{_e(i)}</code>' for i in ids) or '—'}</td></tr>"
        for status, ids in summary["insurers"].items()
    )
    member_rows = "".join(
        f"<tr><td>{_e(status_word(key))}</td><td class='num'>{_n(value)}</td></tr>"
        for key, value in summary["members"].items()
    )
    chips = "".join(
        f"<p><strong>{_e(status_word(status))}</strong><br>"
        + (
            "".join(f"<span class='chip {status}' title='{_e(category_label(c))}'>{_e(c)}</span>" for c in cats)
            or f"<span class='note'>{_e(_('none'))}</span>"
        )
        + "</p>"
        for status, cats in summary["fields"].items()
    )
    return f"""<section id="summary">
<h2>{_e(_("Summary"))}</h2>
<div class="grid2">
<div><table><thead><tr><th>{_e(_("insurers"))}</th><th class="num">{_e(_("count"))}</th><th>{_e(_("ids"))}</th></tr>
</thead><tbody>{insurer_rows}</tbody></table></div>
<div><table><thead><tr><th>{_e(_("members"))}</th><th class="num">{_e(_("count"))}</th></tr></thead>
<tbody>{member_rows}</tbody></table>
<h2 style="margin-top:16px">{_e(_("Field categories"))}</h2>{chips}</div>
</div>
</section>"""


def _obligations(duties: dict[str, Any], tz: ZoneInfo) -> str:
    rule = duties["rule"]
    rows = (
        "".join(
            f"<tr><td><code>{_e(e['insurer'])}</code></td><td class='when'>{_local(e['aware_at'], tz)}</td>"
            f"<td class='when'>{_local(e['deadline'], tz)}</td>"
            f"<td class='when'>{_local(e['authority_notified_at'], tz)}</td>"
            f"<td class='when'>{_local(e['members_notified_at'], tz)}</td>"
            f"<td><span class='badge {STATUS_CLASS[e['status']]}'>{_e(status_word(e['status']))}</span></td>"
            f"<td class='num'>{_n(e['members_never_notified'])}</td>"
            f"<td class='num'>{_n(e['members_notified_before_change'])}</td></tr>"
            for e in duties["insurers"]
        )
        or f"<tr><td colspan='8' class='note'>{_e(_('No insurer has a notification duty yet.'))}</td></tr>"
    )
    ruled_out = (
        "<p class='note'>"
        + _e(_("Ruled out, nothing to notify: {insurers}").format(insurers=", ".join(duties["ruled_out"])))
        + ".</p>"
        if duties["ruled_out"]
        else ""
    )
    return f"""<section id="obligations">
<h2>{_e(_("Notification obligations"))}</h2>
<p class="note">{
        _e(
            _("{article}: {hours} hours from awareness, computed in UTC.").format(
                article=rule["article"], hours=rule["hours"]
            )
        )
    }
{_e(rule["description"])}</p>
<table><thead><tr><th>{_e(_("insurer"))}</th><th>{_e(_("aware at"))}</th><th>{_e(_("deadline"))}</th>
<th>{_e(_("authority notified"))}</th><th>{_e(_("members notified"))}</th><th>{_e(_("status"))}</th>
<th class="num">{_e(_("never notified"))}</th><th class="num">{_e(_("notified before change"))}</th>
</tr></thead><tbody>{rows}</tbody></table>{ruled_out}
</section>"""


def _timeline_table(entries: list[dict[str, Any]], tz: ZoneInfo) -> str:
    rows = []
    for e in entries:
        insurers = e["insurers"]["affected"]
        retracted = " ".join(f"<span class='struck'>{_e(i)}</span>" for i in e["retracted"]) or "—"
        rows.append(
            f"<tr><td class='when'>{_local(e['known_on'], tz)}</td><td class='num'>{_n(e['members_affected'])}</td>"
            f"<td>{_e(', '.join(e['fields_exposed']) or '—')}</td>"
            f"<td class='num' title='{_e(', '.join(insurers))}'>{len(insurers)}</td>"
            f"<td>{_fact_ids(e['facts'])}</td><td>{retracted}</td></tr>"
        )
    return f"""<section id="timeline">
<h2>{_e(_("Knowledge timeline"))}</h2>
<p class="note">{_e(TIMELINE_NOTE())}</p>
<table><thead><tr><th>{_e(_("known on"))}</th><th class="num">{_e(_("members affected"))}</th>
<th>{_e(_("fields exposed"))}</th><th class="num">{_e(_("insurers affected"))}</th><th>{_e(_("facts"))}</th>
<th>{_e(_("retracted"))}</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</section>"""


def _fact_ids(ids: list[str], shown: int = 4) -> str:
    text = ", ".join(f"<code>{_e(i)}</code>" for i in ids[:shown])
    return text + (" " + _e(_("and {count} more").format(count=len(ids) - shown)) if len(ids) > shown else "")


def _sources(markers: list[Marker], tz: ZoneInfo) -> str:
    rows: list[str] = []
    rosters: dict[tuple[str | None, datetime, str | None], list[Marker]] = {}
    for m in markers:
        if m.kind == "members-enrolled":
            rosters.setdefault((m.insurer, m.known, m.source), []).append(m)
            continue
        fact_id = f"<span class='struck'>{_e(m.id)}</span>" if m.retracted_by else f"<code>{_e(m.id)}</code>"
        detail = _e(_("retracts")) + f" <code>{_e(m.retracts)}</code>" if m.retracts else ""
        if m.retracted_by:
            detail = _e(_("retracted by")) + f" <code>{_e(m.retracted_by)}</code>"
        rows.append(
            f"<tr><td class='when'>{_local(m.known, tz)}</td><td><span style='color:{colour(m.kind)}'>●</span>"
            f" {_e(m.kind)}</td><td>{fact_id} {detail}</td><td>{_e(m.source) or '—'}</td>"
            f"<td>{_e(m.confidence) or '—'}</td></tr>"
        )
    for (insurer, known, source), batch in rosters.items():
        facts = ngettext("{count} fact", "{count} facts", len(batch)).format(count=len(batch))
        rows.append(
            f"<tr><td class='when'>{_local(known, tz)}</td>"
            f"<td><span style='color:{colour('members-enrolled')}'>●</span>"
            f" members-enrolled</td><td>{_e(_('roster of'))} <code>{_e(insurer)}</code>"
            f" ({_e(facts)})"
            f"</td><td>{_e(source) or '—'}</td><td>—</td></tr>"
        )
    return f"""<section id="sources">
<h2>{_e(_("Sources"))}</h2>
<table><thead><tr><th>{_e(_("known on"))}</th><th>{_e(_("kind"))}</th><th>{_e(_("fact"))}</th>
<th>{_e(_("source"))}</th><th>{_e(_("confidence"))}</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</section>"""


# -- the chart --------------------------------------------------------------------------

WIDTH: Final = 1060
HEIGHT: Final = 400
LEFT: Final = 72
RIGHT: Final = 64
TOP: Final = 40
PLOT_BOTTOM: Final = 270
LANE: Final = 300
STACK: Final = 11
MAX_STACK: Final = 6
BUCKET_PX: Final = 7
GRID: Final = "#eef0f3"
AXIS: Final = "#9ca3af"
LABEL: Final = "#374151"
RETRACTION: Final = "#dc2626"


def svg(tag: str, body: str = "", **attributes: object) -> str:
    """One SVG element; `font_size=12` becomes `font-size="12"`, floats get one decimal."""
    parts = []
    for name, value in attributes.items():
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        parts.append(f'{name.rstrip("_").replace("_", "-")}="{_e(text)}"')
    opening = f"<{tag} {' '.join(parts)}"
    return f"{opening}>{body}</{tag}>" if body else f"{opening}/>"


@dataclass(frozen=True, slots=True)
class _Scale:
    start: datetime
    end: datetime
    members_step: int
    members_ticks: int
    fields_max: int

    @property
    def members_max(self) -> int:
        return self.members_step * self.members_ticks

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return LEFT + (WIDTH - LEFT - RIGHT) * (moment - self.start).total_seconds() / span

    def y_members(self, value: int) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * value / self.members_max

    def y_fields(self, value: int) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * value / self.fields_max


def _step(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1)."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= value:
                return step * power
        power *= 10


def _scale(data: dict[str, Any], markers: list[Marker]) -> _Scale:
    times = [m.known for m in markers]
    start = data["opened_at"] or (min(times) if times else data["generated_at"])
    end = max([*times, start])
    if end - start < timedelta(days=1):
        end = start + timedelta(days=1)
    pad = (end - start) * 0.04
    members = max((e["members_affected"] for e in data["timeline"]), default=0)
    fields = max((len(e["fields_exposed"]) for e in data["timeline"]), default=0)
    step = _step(members * 1.1 / 5)
    ticks = max(1, -(-int(members * 1.1) // step))
    return _Scale(start - pad, end + pad, step, ticks, max(4, fields + 1))


def _day_ticks(scale: _Scale, tz: ZoneInfo) -> list[datetime]:
    """Local midnights, every 1, 2, 7, ... days: at most 11 labels."""
    days = max(1, (scale.end - scale.start).days)
    step = next((s for s in (1, 2, 7, 14, 30, 61, 91, 182, 365) if days / s <= 11), 730)
    day = scale.start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    ticks = []
    while day <= scale.end:
        ticks.append(day)
        day += timedelta(days=step)  # aware arithmetic in `tz` keeps wall-clock midnight across DST
    return ticks


def chart(data: dict[str, Any]) -> str:
    """The SVG chart of members affected and fields exposed over knowledge time."""
    tz: ZoneInfo = data["tz"]
    start_at = data["opened_at"]
    markers = [m for m in data["markers"] if start_at is None or m.known >= start_at]
    scale = _scale(data, markers)
    body = "\n".join(
        [
            svg("rect", x=0, y=0, width=WIDTH, height=HEIGHT, fill="#ffffff"),
            *_grid(scale, tz),
            *_series(data["timeline"], scale),
            *_markers(markers, scale),
            *_legend(),
        ]
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img"'
        f' id="timeline-chart" aria-label="Members affected and fields exposed over knowledge time">\n{body}\n</svg>'
    )


def _grid(scale: _Scale, tz: ZoneInfo) -> list[str]:
    right = WIDTH - RIGHT
    out: list[str] = []
    for i in range(scale.members_ticks + 1):
        members = scale.members_step * i
        y = scale.y_members(members)
        out.append(svg("line", x1=LEFT, x2=right, y1=y, y2=y, stroke=GRID))
        out.append(svg("text", _n(members), x=LEFT - 10, y=y + 4, text_anchor="end", font_size=12, fill=LABEL))
    for value in range(scale.fields_max + 1):
        out.append(svg("text", str(value), x=right + 10, y=scale.y_fields(value) + 4, font_size=12, fill=FIELDS_COLOUR))
    for tick in _day_ticks(scale, tz):
        x = scale.x(tick)
        out.append(svg("line", x1=x, x2=x, y1=TOP, y2=PLOT_BOTTOM, stroke=GRID))
        out.append(svg("line", x1=x, x2=x, y1=PLOT_BOTTOM, y2=PLOT_BOTTOM + 5, stroke=AXIS))
        label = tick.strftime("%d %b")
        out.append(svg("text", label, x=x, y=HEIGHT - 12, text_anchor="middle", font_size=12, fill=LABEL))
    out += [
        svg("line", x1=LEFT, x2=right, y1=PLOT_BOTTOM, y2=PLOT_BOTTOM, stroke=AXIS),
        svg("line", x1=LEFT, x2=LEFT, y1=TOP, y2=PLOT_BOTTOM, stroke=AXIS),
        svg("line", x1=right, x2=right, y1=TOP, y2=PLOT_BOTTOM, stroke="#fdba74"),
        svg(
            "text",
            "members",
            x=LEFT - 10,
            y=TOP - 14,
            text_anchor="end",
            font_size=12,
            font_weight=600,
            fill=MEMBERS_COLOUR,
        ),
        svg("text", "fields", x=right + 10, y=TOP - 14, font_size=12, font_weight=600, fill=FIELDS_COLOUR),
        svg("text", "facts, as they became known", x=LEFT, y=LANE - 12, font_size=11, fill="#6b7280"),
    ]
    return out


def _steps(points: list[tuple[datetime, int]], scale: _Scale, y: Callable[[int], float]) -> str:
    """A step line: each value holds until the next knowledge time."""
    coords: list[tuple[float, float]] = [(LEFT, y(0))]
    for moment, value in points:
        x = scale.x(moment)
        coords += [(x, coords[-1][1]), (x, y(value))]
    coords.append((WIDTH - RIGHT, coords[-1][1]))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)


def _series(entries: list[dict[str, Any]], scale: _Scale) -> list[str]:
    moments = [datetime.fromisoformat(e["known_on"].replace("Z", "+00:00")) for e in entries]
    pairs = list(zip(moments, entries, strict=True))
    members = _steps([(m, e["members_affected"]) for m, e in pairs], scale, scale.y_members)
    fields = _steps([(m, len(e["fields_exposed"])) for m, e in pairs], scale, scale.y_fields)
    out = [
        svg(
            "polygon",
            points=f"{LEFT},{PLOT_BOTTOM} {members} {WIDTH - RIGHT},{PLOT_BOTTOM}",
            fill=MEMBERS_COLOUR,
            fill_opacity=0.1,
        ),
        svg("polyline", points=members, fill="none", stroke=MEMBERS_COLOUR, stroke_width=2.5, stroke_linejoin="round"),
        svg(
            "polyline",
            points=fields,
            fill="none",
            stroke=FIELDS_COLOUR,
            stroke_width=2,
            stroke_dasharray="6 4",
            stroke_linejoin="round",
        ),
    ]
    previous: int | None = None
    for moment, entry in zip(moments, entries, strict=True):
        x, value = scale.x(moment), entry["members_affected"]
        y = scale.y_members(value)
        tip = svg("title", _e(f"{entry['known_on']}: {_n(value)} members, {len(entry['fields_exposed'])} fields"))
        out.append(svg("circle", tip, cx=x, cy=y, r=3.5, fill="#fff", stroke=MEMBERS_COLOUR, stroke_width=2))
        if value != previous and len(entries) <= 16:
            out.append(
                svg(
                    "text",
                    _n(value),
                    x=x + 5,
                    y=y - 7,
                    font_size=11,
                    font_weight=600,
                    fill=MEMBERS_COLOUR,
                    stroke="#fff",
                    stroke_width=3,
                    paint_order="stroke",
                )
            )
        previous = value
    return out


def _markers(markers: list[Marker], scale: _Scale) -> list[str]:
    """One dot per fact in the lane under the plot, stacked when they fall together."""
    out: list[str] = []
    stacks: dict[int, int] = {}
    for m in markers:
        x = scale.x(m.known)
        bucket = round(x / BUCKET_PX)
        level = stacks.get(bucket, 0)
        stacks[bucket] = level + 1
        if level >= MAX_STACK:
            continue
        y = LANE + level * STACK
        tip = svg("title", _e(f"{m.id} ({m.kind}), known {iso_utc(m.known)}"))
        if m.retracts is not None:
            out.append(
                svg(
                    "line", x1=x, x2=x, y1=TOP, y2=LANE - 6, stroke=RETRACTION, stroke_width=1.2, stroke_dasharray="3 3"
                )
            )
            cross = svg("line", x1=x - 4, y1=y - 4, x2=x + 4, y2=y + 4)
            cross += svg("line", x1=x - 4, y1=y + 4, x2=x + 4, y2=y - 4)
            out.append(svg("g", cross + tip, stroke=RETRACTION, stroke_width=2.2, class_="retraction"))
        elif m.retracted_by is not None:
            out.append(svg("circle", tip, cx=x, cy=y, r=4, fill="#fff", stroke=colour(m.kind), stroke_width=1.6))
            out.append(svg("line", x1=x - 6, x2=x + 6, y1=y, y2=y, stroke=RETRACTION, stroke_width=1.4))
        else:
            out.append(svg("circle", tip, cx=x, cy=y, r=4, fill=colour(m.kind)))
    for bucket, count in stacks.items():
        if count > MAX_STACK:
            y = LANE + (MAX_STACK - 1) * STACK + 4
            more = f"+{count - MAX_STACK}"
            out.append(svg("text", more, x=bucket * BUCKET_PX + 7, y=y, font_size=10, fill="#6b7280"))
    return out


def _legend() -> list[str]:
    out: list[str] = []
    x = float(LEFT)
    for name, value, _kinds in KIND_GROUPS:
        out.append(svg("circle", cx=x + 4, cy=TOP - 22, r=4, fill=value))
        out.append(svg("text", _e(legend_word(name)), x=x + 12, y=TOP - 18, font_size=11.5, fill=LABEL))
        x += 34 + 6 * len(name)
    return out
