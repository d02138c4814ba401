"""`demo`: the Viamedis/Almerys story with synthetic members, answered at several dates."""

from __future__ import annotations

import click

from cli.shell import json_option, run


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Folder for the demo store (default: a new temporary folder).",
)
@click.option(
    "--members",
    "per_insurer",
    default=200,
    show_default=True,
    type=click.IntRange(1, 5_000_000),
    help="Synthetic members per insurer.",
)
@json_option
def demo(directory: str | None, per_insurer: int, as_json: bool) -> None:
    """Load the Viamedis/Almerys story with synthetic members and print its answers at several dates.

    \b
    Example:
      exposure demo --members 1000
    """
    from cli import demo as demo_module  # noqa: PLC0415 - the demo's data loads only when asked for

    run(demo_module.run_demo(directory, per_insurer, as_json))
