"""`exposure init`, `record` and `import`: create a store and append facts to it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli import inputs
from cli.i18n import _, ngettext
from cli.shell import emit_json, json_option, run, settings, with_store
from domain.errors import InvalidFact
from domain.facts import KINDS
from domain.parse import input_keys
from domain.times import iso_utc
from usecases import session, writes
from usecases.session import Store

LIST_KEYS = frozenset({"categories", "refs", "contracts", "roles", "action", "vector"})
INT_KEYS = frozenset({"estimate"})
BOOL_KEYS = frozenset({"special"})


@click.command()
@click.option(
    "--timezone", "tz", metavar="TZ", help="The ledger's time zone (IANA name) for date-only times (default UTC)."
)
@click.option(
    "--encrypt",
    is_flag=True,
    help=(
        "Encrypt the store. SQLite: the whole file is a SQLCipher 4 database (the fact log, every"
        " projection and the WAL: AES-256 with an HMAC per page), keyed from the key file, which is"
        " then needed by every command. Every fact's payload is also AES-GCM encrypted. PostgreSQL:"
        " the payloads only (ids, refs and dates in the projections stay in clear: encryption at rest"
        " is the server's). See docs/SECURITY.md."
    ),
)
@json_option
def init(tz: str | None, encrypt: bool, as_json: bool) -> None:
    """Create the store and its key file (idempotent).

    On an existing store, the same options again say "Already initialised"; another
    --timezone, or --encrypt on a store kept in clear, is refused (exit 1) and changes nothing.

    \b
    Example:
      exposure --store incident.db init --timezone Europe/Paris
    """

    async def go() -> None:
        cfg = settings()
        info = await session.init(cfg.location, cfg.key_file, timezone=tz, encrypt=encrypt)
        created = info.created
        if as_json:
            emit_json(info)
        else:
            text = (
                _("Created {store} (time zone {zone}, key file {key_file})")
                if created
                else _("Already initialised: {store} (time zone {zone}, key file {key_file})")
            )
            click.echo(text.format(store=info.store, zone=info.timezone, key_file=info.key_file))

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
            return inputs.loads(value)
        except inputs.DuplicateKey as problem:
            raise InvalidFact(f"--members: duplicate key {problem.args[0]!r}") from None
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


@click.command(
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
        result = await writes.record(store, [("", obj)])
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


@click.command("import")
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
                items, problems = inputs.read_jsonl(sys.stdin.buffer, file)
            else:
                with Path(file).open("rb") as handle:
                    items, problems = inputs.read_jsonl(handle, file)
        except FileNotFoundError:
            raise InvalidFact(f"no such file: {file}") from None
        except OSError as problem:
            raise InvalidFact(f"{file}: {problem.strerror}") from None
        if not items and not problems:
            raise InvalidFact(f"{file}: no facts (an empty file)" if file != "-" else "no facts on standard input")
        result = await writes.record(store, items, problems=problems)
        ids = [r.fact.id for r in result.appended]
        if as_json:
            emit_json({"appended": len(ids), "unchanged": len(result.unchanged), "ids": ids})
        else:
            click.echo(
                ngettext("Appended {count} fact", "Appended {count} facts", len(ids)).format(count=len(ids))
                + (
                    " " + _("({count} already recorded)").format(count=len(result.unchanged))
                    if result.unchanged
                    else ""
                )
            )

    run(go())
