"""`exposure`: record facts about a breach, ask what was known when, audit the history.

The entry module holds the root group only. Each command lives in the module named in
`COMMANDS` and is imported when it runs (`cli.lazy`): `exposure --version` loads click and
nothing else, a query loads the store and its renderer, never the report or psycopg.
A new command is one line here.
"""

from __future__ import annotations

from typing import Final

import click

from cli import __version__
from cli.i18n import LANGUAGES, choose, chosen_in
from cli.lazy import LazyGroup
from cli.shell import Settings

COMMANDS: Final = {
    "audit": "cli.commands.audit:audit",
    "demo": "cli.commands.demo:demo",
    "diff": "cli.commands.history:diff",
    "export": "cli.commands.history:export",
    "follow": "cli.commands.store:follow",
    "import": "cli.commands.record:import_facts",
    "init": "cli.commands.record:init",
    "insurer": "cli.commands.questions:insurer",
    "key": "cli.commands.store:key_group",
    "member": "cli.commands.questions:member",
    "members": "cli.commands.members:members",
    "notify": "cli.commands.notify:notify",
    "obligations": "cli.commands.history:obligations",
    "record": "cli.commands.record:record",
    "report": "cli.commands.report:report",
    "serve": "cli.commands.service:serve",
    "service": "cli.commands.service:service_group",
    "store": "cli.commands.store:store_group",
    "summary": "cli.commands.questions:summary",
    "timeline": "cli.commands.history:timeline",
}
"""Command name -> `module:attribute` of its click command, imported on first use."""


class Root(LazyGroup):
    """The root group: chooses the language before anything is parsed, and words the usage
    errors of every command in it (docs/I18N.md)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = next((i for i, arg in enumerate(args) if arg in self.lazy), len(args))  # the root's options only
        choose(chosen_in(args[:own]))  # before click's own parse errors ("No such option", "No such command")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException as problem:  # our messages in a usage error (exit 2), e.g. BadParameter
            from cli.error_messages import translate  # noqa: PLC0415 - only an error pays for it

            problem.message = translate(problem.message)  # type: ignore[misc] # click marks it Final, sets it once
            raise


@click.group(
    cls=Root,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--store",
    metavar="STORE",
    help="SQLite file or postgresql:// URL (default $EXPOSURE_STORE, else ./exposure.db).",
)
@click.option(
    "--key-file",
    metavar="FILE",
    help="Key file (default $EXPOSURE_KEY_FILE, else the store's path with .key; ./exposure.key for PostgreSQL).",
)
@click.option(
    "--read-store",
    metavar="URL",
    help="Answer from this hot-standby replica of the PostgreSQL store (default $EXPOSURE_READ_STORE);"
    " writes still go to --store.",
)
@click.option(
    "--max-lag",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long a read waits for the replica to replay the facts written before it, then fails"
    " (default $EXPOSURE_MAX_LAG, else 10).",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    help="Language of human output: en or fr (default: fr when LANG or LC_ALL is French, else en). JSON never changes.",
)
@click.version_option(__version__, package_name="exposure-ledger")
@click.pass_context
def main(
    ctx: click.Context,
    store: str | None,
    key_file: str | None,
    read_store: str | None,
    max_lag: float | None,
    lang: str | None,
) -> None:
    """An exposure ledger for personal-data breaches: which members, which fields, as known on any date.

    \b
    Example:
      exposure init --timezone Europe/Paris
      exposure record attack-discovered --incident viamedis-2024-01 --operator Viamedis --occurred-on 2024-01-22
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07
      exposure --lang fr summary --incident viamedis-2024-01
    """
    choose(lang)
    ctx.obj = Settings(store, key_file, read_store, max_lag)


def entry() -> None:  # pragma: no cover - console script shim
    main()
