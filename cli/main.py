"""`exposure`: record facts about a breach, ask what was known when, audit the history.

This module only assembles the command line: the root group and its global options, and
the commands of `cli/commands/`, one module per group of commands.
"""

from __future__ import annotations

import click

from cli.commands import audit as audit_cmds
from cli.commands import demo, facts, history, members, questions
from cli.commands import store as store_cmds
from cli.shell import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
@click.version_option(package_name="exposure-ledger")
@click.pass_context
def main(
    ctx: click.Context, store: str | None, key_file: str | None, read_store: str | None, max_lag: float | None
) -> None:
    """An exposure ledger for personal-data breaches: which members, which fields, as known on any date.

    \b
    Example:
      exposure init --timezone Europe/Paris
      exposure record attack-discovered --incident viamedis-2024-01 --operator Viamedis --occurred-on 2024-01-22
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07
    """
    ctx.obj = Settings(store, key_file, read_store, max_lag)


@main.group()
def audit() -> None:
    """Inspect and verify the whole history.

    \b
    Example:
      exposure audit log --json
    """


for command in (facts.init, facts.record, facts.import_facts, questions.summary, questions.insurer):
    main.add_command(command)
for command in (questions.member, members.members, demo.demo):
    main.add_command(command)
store_cmds.register(main)  # `store copy` and `follow`
audit_cmds.register(audit)  # log, verify, head, keygen, replay and export
history.register(main)  # diff, timeline, obligations, report and `export veris`
