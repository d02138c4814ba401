"""`exposure report`: one self-contained HTML page about an incident.

`gather` reads the answers (`usecases.history.report`); `cli.render.report.page` is a pure
function from those answers to HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from cli.i18n import _
from cli.render.report import page
from cli.render.report_data import Marker, Page
from cli.shell import emit_json, force_option, horizon_at, horizon_options, output_to, rules_option, run, with_store
from domain import obligations as rules
from domain.answers import NotKnown
from domain.errors import InvalidFact
from domain.facts import AttackDiscovered, FactRetracted, insurer_of
from domain.times import from_micros, to_minute
from usecases import history as story
from usecases.session import Horizon, Store

# -- reading ----------------------------------------------------------------------------


async def gather(store: Store, incident: str, h: Horizon, rule: rules.Rule) -> Page | None:
    """Every answer the page shows (`usecases.history.report`), with the facts as chart
    markers; None for an incident not known at `h`."""
    found = await story.report(store, incident, h, rule)
    summary, view, entries, duties, rows = found.summary, found.view, found.timeline, found.obligations, found.facts
    if isinstance(summary, NotKnown):
        return None
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
    return Page(
        incident=incident,
        title=view.title,
        operator=view.operator,
        attack_began=view.attack_began,
        opened_at=from_micros(opening.known_us) if opening else None,
        tz=store.tz,
        summary=summary,
        timeline=entries,
        obligations=duties,
        markers=markers,
        rosters=[m for m in markers if m.kind == "members-enrolled"],
        generated_at=datetime.now(UTC),
    )


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
            if data is None:
                moment = to_minute(h.as_known_on, store.tz)
                raise InvalidFact(f"{incident} was not known as of {moment} ({store.tz.key}): no report to write")
            text = page(data)
            sink.write(text)
        if as_json:
            emit_json({"incident": incident, "html": str(target), "bytes": len(text.encode()), **h.header()})
        else:
            click.echo(
                _("Wrote {file} ({facts} facts, {changes} knowledge changes)").format(
                    file=target, facts=len(data.markers), changes=len(data.timeline)
                )
            )

    run(go())
