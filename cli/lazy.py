"""A click group whose commands are imported only when one of them runs.

`exposure --version` should not pay for psycopg, eventsourcing, rich or the report: each
command lives in its own module, named here by `"module:attribute"`, and is imported on
first use (listing the commands for `--help` imports them all, which is fine for help).
Adding a command is one line in the table of `cli.main`; it stays lazy by construction.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """`click.Group` with `lazy`: command name -> `"module:attribute"` of a click command."""

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(load(self.lazy[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)


def load(target: str) -> click.Command:
    """Import `"module:attribute"` and return that click command."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):  # a table entry naming something else is a bug
        raise TypeError(f"{target} is not a click command")
    return command
