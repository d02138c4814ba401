"""The report page's chart: members affected and fields exposed over knowledge time, as
inline SVG, with every fact bearing on the incident as a marker (retractions in red)."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cli.i18n import _
from cli.render.report_data import Marker, Page
from domain.answers import TimelineEntry
from domain.times import iso_utc

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


def escape(value: object) -> str:
    """`value` as HTML text (None: nothing)."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: int) -> str:
    """A count with narrow no-break spaces between thousands."""
    return f"{value:,}".replace(",", "\u202f")


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
        parts.append(f'{name.rstrip("_").replace("_", "-")}="{escape(text)}"')
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


def _scale(data: Page, markers: list[Marker]) -> _Scale:
    times = [m.known for m in markers]
    start = data.opened_at or (min(times) if times else data.generated_at)
    end = max([*times, start])
    if end - start < timedelta(days=1):
        end = start + timedelta(days=1)
    pad = (end - start) * 0.04
    members = max((e.members_affected for e in data.timeline), default=0)
    fields = max((len(e.fields_exposed) for e in data.timeline), default=0)
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


def chart(data: Page) -> str:
    """The SVG chart of members affected and fields exposed over knowledge time."""
    tz = data.tz
    start_at = data.opened_at
    markers = [m for m in data.markers if start_at is None or m.known >= start_at]
    scale = _scale(data, markers)
    body = "\n".join(
        [
            svg("rect", x=0, y=0, width=WIDTH, height=HEIGHT, fill="#ffffff"),
            *_grid(scale, tz),
            *_series(data.timeline, scale),
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
        out.append(svg("text", number(members), x=LEFT - 10, y=y + 4, text_anchor="end", font_size=12, fill=LABEL))
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


def _series(entries: list[TimelineEntry], scale: _Scale) -> list[str]:
    moments = [datetime.fromisoformat(e.known_on.replace("Z", "+00:00")) for e in entries]
    pairs = list(zip(moments, entries, strict=True))
    members = _steps([(m, e.members_affected) for m, e in pairs], scale, scale.y_members)
    fields = _steps([(m, len(e.fields_exposed)) for m, e in pairs], scale, scale.y_fields)
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
        x, value = scale.x(moment), entry.members_affected
        y = scale.y_members(value)
        tip = svg("title", escape(f"{entry.known_on}: {number(value)} members, {len(entry.fields_exposed)} fields"))
        out.append(svg("circle", tip, cx=x, cy=y, r=3.5, fill="#fff", stroke=MEMBERS_COLOUR, stroke_width=2))
        if value != previous and len(entries) <= 16:
            out.append(
                svg(
                    "text",
                    number(value),
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
        tip = svg("title", escape(f"{m.id} ({m.kind}), known {iso_utc(m.known)}"))
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
        out.append(svg("text", escape(legend_word(name)), x=x + 12, y=TOP - 18, font_size=11.5, fill=LABEL))
        x += 34 + 6 * len(name)
    return out
