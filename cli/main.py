"""`exposure`: record facts about a breach, ask what was known when, audit the history."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

import service
from cli.commands import audit as audit_cmds
from cli.commands import history as history_cmds
from cli.commands import store as store_cmds
from cli.render import tables as render
from cli.render.progress import RosterProgress
from cli.shell import (
    Settings,
    emit,
    emit_json,
    fail,
    horizon_options,
    json_option,
    out,
    run,
    settings,
    with_store,
)
from domain.errors import InvalidFact, LedgerError
from domain.facts import KINDS
from domain.parse import input_keys
from domain.times import iso_utc
from service import ROSTER_BATCH, Store

LIST_KEYS = frozenset({"categories", "refs", "contracts", "roles"})
INT_KEYS = frozenset({"estimate"})
BOOL_KEYS = frozenset({"special"})
MAX_LINE = 64 * 1024 * 1024


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


# -- init -------------------------------------------------------------------------------


@main.command()
@click.option(
    "--timezone", "tz", default="UTC", show_default=True, help="The ledger's time zone (IANA name) for date-only times."
)
@click.option(
    "--encrypt", is_flag=True, help="Also keep an encryption key and store every fact's payload encrypted (AES-GCM)."
)
@json_option
def init(tz: str, encrypt: bool, as_json: bool) -> None:
    """Create the store and its key file (idempotent).

    \b
    Example:
      exposure --store incident.db init --timezone Europe/Paris
    """

    async def go() -> None:
        cfg = settings()
        info = await service.init(cfg.location, cfg.key_file, timezone=tz, encrypt=encrypt)
        if as_json:
            emit_json(info)
        else:
            verb = "Created" if info["created"] else "Already initialised:"
            click.echo(f"{verb} {info['store']} (time zone {info['timezone']}, key file {info['key_file']})")

    run(go())


# -- record and import ------------------------------------------------------------------


def _flags_to_object(kind: str, args: list[str]) -> dict[str, Any]:
    """`--known-on X --categories a,b --categories c` as a fact object."""
    if kind not in KINDS:
        raise InvalidFact(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    required, optional = input_keys(kind)
    allowed = set(required) | set(optional)
    obj: dict[str, Any] = {"kind": kind}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--"):
            raise InvalidFact(f"unexpected argument {arg!r} (keys are given as --key value)")
        name, has_value, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if key not in allowed:
            raise InvalidFact(f"unknown key {'--' + name!r} for kind {kind!r} (allowed: {_flags(sorted(allowed))})")
        if not has_value:
            index += 1
            if index >= len(args):
                raise InvalidFact(f"--{name} needs a value")
            value = args[index]
        index += 1
        if key in LIST_KEYS:
            obj.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
        elif key == "members":
            obj.setdefault(key, []).append(_member_flag(value))
        elif key in INT_KEYS:
            try:
                obj[key] = int(value)
            except ValueError:
                raise InvalidFact(f"--{name}: expected a whole number, got {value!r}") from None
        elif key in BOOL_KEYS:
            if value.lower() not in ("true", "false", "yes", "no"):
                raise InvalidFact(f"--{name}: expected true or false, got {value!r}")
            obj[key] = value.lower() in ("true", "yes")
        else:
            if key in obj:
                raise InvalidFact(f"--{name} given twice")
            obj[key] = value
    return obj


def _flags(keys: list[str]) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in keys)


def _member_flag(value: str) -> object:
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # JSONDecodeError, too many digits, too deep
            raise InvalidFact(f"--members: invalid JSON object {value[:80]!r}") from None
    return {"ref": value}


def _kinds_help() -> str:
    lines = []
    for kind in sorted(KINDS):
        required, optional = input_keys(kind)
        opt = [k for k in optional if k not in ("id", "known_on", "occurred_on", "by", "source", "confidence", "note")]
        lines.append(
            f"  {kind}: "
            + " ".join(f"--{k.replace('_', '-')}" for k in required)
            + (" [" + " ".join(f"--{k.replace('_', '-')}" for k in opt) + "]" if opt else "")
        )
    return "\n".join(lines)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "allow_interspersed_args": False},
    epilog="\b\nKinds and their keys"
    " (every kind also takes --id --known-on --occurred-on --source --by --confidence --note):\n" + _kinds_help(),
)
@click.argument("kind")
@click.argument("keys", nargs=-1, type=click.UNPROCESSED)
@json_option
def record(kind: str, keys: tuple[str, ...], as_json: bool) -> None:
    """Append one fact of KIND; print its id.

    List values repeat the flag or take commas.

    \b
    Example:
      exposure record field-ruled-in --incident viamedis-2024-01 \\
        --categories nir,birth_date --known-on 2024-02-01 --source "Viamedis communiqué"
    """
    args = list(keys)
    if "--help" in args or "-h" in args:  # `record KIND --help`: the help, not "unknown key"
        click.echo(click.get_current_context().get_help())
        return
    if "--json" in args:  # allow --json after the keys too
        args.remove("--json")
        as_json = True

    @with_store
    async def go(store: Store) -> None:
        obj = _flags_to_object(kind, args)
        result = await service.record(store, [("", obj)])
        fact = result.appended[0] if result.appended else None
        fact_id = fact.fact.id if fact else result.unchanged[0]
        if as_json:
            emit_json(
                {
                    "id": fact_id,
                    "appended": fact is not None,
                    "position": fact.position if fact else None,
                    "recorded_at": iso_utc(fact.timestamp) if fact else None,
                }
            )
        else:
            click.echo(fact_id)

    run(go())


def _read_jsonl(handle: TextIO) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    problems: list[str] = []
    for number, line in enumerate(handle, start=1):
        if len(line) > MAX_LINE:
            problems.append(f"line {number}: longer than {MAX_LINE // (1024 * 1024)} MiB")
            continue
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as problem:
            problems.append(f"line {number}: invalid JSON ({problem.msg} at column {problem.colno})")
        except ValueError:  # json's int() refuses numbers of more than 4,300 digits
            problems.append(f"line {number}: invalid JSON (a number with too many digits)")
        except RecursionError:
            problems.append(f"line {number}: JSON nested too deeply")
    if problems:
        raise InvalidFact(*problems)
    return items


@main.command("import")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@json_option
def import_facts(file: str, as_json: bool) -> None:
    """Append the facts of a JSON Lines FILE (or - for stdin), all or nothing.

    Re-importing a fact with the same id and content is a no-op.

    \b
    Example:
      exposure import facts.jsonl
    """

    @with_store
    async def go(store: Store) -> None:
        try:
            if file == "-":
                items = _read_jsonl(sys.stdin)
            else:
                with Path(file).open(encoding="utf-8") as handle:
                    items = _read_jsonl(handle)
        except FileNotFoundError:
            raise InvalidFact(f"no such file: {file}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
        except OSError as problem:
            raise InvalidFact(f"{file}: {problem.strerror}") from None
        result = await service.record(store, items)
        ids = [r.fact.id for r in result.appended]
        if as_json:
            emit_json({"appended": len(ids), "unchanged": len(result.unchanged), "ids": ids})
        else:
            click.echo(
                f"Appended {len(ids)} fact{'s' if len(ids) != 1 else ''}"
                + (f" ({len(result.unchanged)} already recorded)" if result.unchanged else "")
            )

    run(go())


# -- queries ----------------------------------------------------------------------------


@main.command()
@click.option("--incident", required=True, help="Incident id, e.g. viamedis-2024-01.")
@horizon_options
@json_option
def summary(incident: str, when: service.When, as_json: bool) -> None:
    """Insurers, member counts and field categories of an incident.

    \b
    Example:
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        emit(await service.summary(store, incident, when), as_json, render.summary)

    run(go())


@main.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id.")
@horizon_options
@json_option
def insurer(incident: str, insurer_id: str, when: service.When, as_json: bool) -> None:
    """One insurer: status, scope, fields, counts, notification dates.

    \b
    Example:
      exposure insurer --incident almerys-2024-02 --insurer mutame-et-plus
    """

    @with_store
    async def go(store: Store) -> None:
        emit(await service.insurer(store, incident, insurer_id, when), as_json, render.insurer)

    run(go())


@main.command()
@click.option("--insurer", "insurer_id", help="Insurer id (with --ref).")
@click.option("--ref", help="The insurer's member number (with --insurer).")
@click.option("--nir", help="Social security number: every membership of that person.")
@horizon_options
@json_option
def member(insurer_id: str | None, ref: str | None, nir: str | None, when: service.When, as_json: bool) -> None:
    """Every membership found, per incident: status, fields, implied fields and the facts behind.

    \b
    Examples:
      exposure member --insurer malakoff-humanis --ref MH-000042
      exposure member --nir "2 95 10 99 126 111 93" --json
    """
    if nir is None and (insurer_id is None or ref is None):
        raise click.UsageError("give --insurer and --ref, or --nir")
    if nir is not None and (insurer_id is not None or ref is not None):
        raise click.UsageError("give either --nir or --insurer with --ref, not both")

    @with_store
    async def go(store: Store) -> None:
        answer = await service.member(store, when, insurer_id=insurer_id, ref=ref, nir=nir)
        emit(answer, as_json, render.member)

    run(go())


# -- members ----------------------------------------------------------------------------


@main.group()
def members() -> None:
    """Rosters in (CSV import) and affected members out (export).

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-01-01
    """


@members.command("import")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id the roster belongs to.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--known-on", metavar="X", help="When the roster was known (default: now).")
@click.option(
    "--batch-size", default=ROSTER_BATCH, show_default=True, type=click.IntRange(1, 100_000), help="Members per fact."
)
@json_option
def members_import(insurer_id: str, file: str, known_on: str | None, batch_size: int, as_json: bool) -> None:
    """Import a roster CSV (header ref,role,contract,from,until,nir; all but ref optional).

    Streamed in batches of thousands of members per fact; re-running the same file
    appends nothing, and a re-run after an interruption completes it.

    \b
    Example:
      exposure members import --insurer malakoff-humanis roster.csv --known-on 2024-02-01
    """

    @with_store
    async def go(store: Store) -> None:
        with RosterProgress() as progress:
            result = await service.import_roster(
                store, insurer_id, file, known_on=known_on, batch_size=batch_size, progress=progress
            )
        if as_json:
            emit_json(result)
        else:
            click.echo(
                f"{result['rows']:,} rows in {result['facts']} facts: "
                f"{result['appended']} appended, {result['unchanged']} already recorded"
            )

    run(go())


@members.command("export")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", help="Only this insurer's members.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@horizon_options
def members_export(incident: str, insurer_id: str | None, fmt: str, when: service.When) -> None:
    """Stream the affected members (confirmed or presumed) with their exposed fields.

    \b
    Example:
      exposure members export --incident viamedis-2024-01 --format jsonl > affected.jsonl
    """

    @with_store
    async def go(store: Store) -> None:
        await service.members_export(store, incident, when, insurer_id, fmt, sys.stdout)

    run(go())


# -- audit ------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Inspect and verify the whole history.

    \b
    Example:
      exposure audit log --json
    """


@main.command()
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


store_cmds.register(main)  # `store copy` and `follow`
audit_cmds.register(audit)  # log, verify, head, keygen, replay and export
history_cmds.register(main)  # diff, timeline, obligations, report and `export veris`


__all__ = ["LedgerError", "fail", "main", "out"]
