"""`exposure report`: write the HTML page of an incident (rendered by `cli.render.report`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import service
from cli.render.report import gather, page
from cli.shell import emit_json, horizon_options, json_option, run, with_store
from domain import obligations as rules
from domain.errors import InvalidFact
from service import Store


def rules_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--rules`: which versioned deadline rule applies (shared by `report` and `obligations`)."""
    return click.option(
        "--rules",
        "rule_id",
        type=click.Choice(rules.RULE_IDS),
        default=rules.DEFAULT_RULE,
        show_default=True,
        help=text,
    )


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--html", "html_file", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@rules_option("Deadline rule for the obligations table.")
@horizon_options
@json_option
def report(incident: str, html_file: str, rule_id: str, when: service.When, as_json: bool) -> None:
    """Write a self-contained HTML page: timeline chart, summary, obligations, sources.

    \b
    Example:
      exposure report --incident viamedis-2024-01 --html viamedis.html --as-known-on 2024-02-16
    """

    @with_store
    async def go(store: Store) -> None:
        found = await service.report(store, incident, when, rule_id)
        data = gather(found, incident, store.tz)
        text = page(data)
        target = Path(html_file)
        _write_atomically(target, text)
        if as_json:
            emit_json(
                {"incident": incident, "html": str(target), "bytes": len(text.encode()), **found.horizon.header()}
            )
        else:
            click.echo(f"Wrote {target} ({len(data['markers'])} facts, {len(data['timeline'])} knowledge changes)")

    run(go())


def _write_atomically(target: Path, text: str) -> None:
    """Write the whole page or nothing (no half-written report on a failure)."""
    folder = target.parent if str(target.parent) else Path()
    if not folder.is_dir():
        raise InvalidFact(f"--html: no such folder: {folder}")
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            sink.write(text)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
