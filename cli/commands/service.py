"""`exposure serve` and `exposure service token|log`: the lookup service and its tokens.

The HTTP stack (Litestar, uvicorn) is imported inside `serve` only, so that every other
command starts without it. docs/SERVICE.md has the rules and the threat model.
"""

from __future__ import annotations

import click
from rich.table import Table

from cli.shell import emit_json, emit_json_line, err, json_option, out, run, settings, with_store
from domain import times
from domain.errors import InvalidFact, UnknownReference
from domain.times import from_micros, iso_utc
from service import access_log, storage, tokens
from service.limits import DEFAULT_NIR_LIMIT
from usecases import questions
from usecases.session import Store


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (they share the rate limits and the access log).",
)
@click.option(
    "--readers", default=4, show_default=True, type=click.IntRange(1, 64), help="Read connections per process."
)
@click.option(
    "--nir-limit",
    default=DEFAULT_NIR_LIMIT,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Lookups of one NIR per minute, whichever tokens ask.",
)
@click.option(
    "--interval",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between catch-ups with the ledger.",
)
@click.option(
    "--reads",
    type=click.Choice(["inline", "thread"]),
    default="inline",
    show_default=True,
    help="SQLite: each lookup query in the event loop (inline) or in aiosqlite's thread.",
)
def serve(host: str, port: int, workers: int, readers: int, nir_limit: int, interval: float, reads: str) -> None:
    """Answer lookups over HTTP for organisations holding a token (see docs/SERVICE.md).

    POST /v1/lookups, GET /v1/incidents/{id}/summary, GET /v1/health, GET /openapi.json
    and the docs page /docs. Answers come from the projections, caught up in the
    background; the service never writes facts.

    \b
    Example:
      exposure service token create --insurer malakoff-humanis --name "call centre"
      exposure serve --port 8080
    """
    cfg = settings()

    async def check() -> str:
        store = await cfg.open()
        try:
            return store.location.display
        finally:
            await store.close()

    shown = run(check())
    from service.core import Config  # noqa: PLC0415 - the HTTP stack loads only for `serve`
    from service.server import serve as run_server  # noqa: PLC0415

    config = Config(
        location=cfg.location,
        key_file=str(cfg.key_file) if cfg.key_file else None,
        readers=readers,
        interval=interval,
        nir_limit=nir_limit,
        inline_reads=reads == "inline",
        read_location=cfg.read_location,
        max_lag=cfg.max_lag,
    )
    err.print(f"serving {shown} on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}; docs at /docs)")
    run_server(config, host, port, workers)


@click.group("service")
def service_group() -> None:
    """Tokens and the access log of the lookup service.

    \b
    Example:
      exposure service token create --insurer malakoff-humanis --name "call centre" --rate 20/s
    """


@service_group.group("token")
def token_group() -> None:
    """Create, list and revoke bearer tokens.

    \b
    Example:
      exposure service token list
    """


@token_group.command("create")
@click.option("--insurer", "insurer_id", help="The insurer whose memberships the token sees.")
@click.option("--all-insurers", is_flag=True, help="Every insurer's memberships (the operator's incident team).")
@click.option("--name", required=True, help="Who holds it, e.g. 'call centre'.")
@click.option(
    "--rate", default=tokens.DEFAULT_RATE, show_default=True, help="Lookups per second, minute or hour (600/min)."
)
@json_option
def token_create(insurer_id: str | None, all_insurers: bool, name: str, rate: str, as_json: bool) -> None:
    """Create a token and print it once (only its hash is kept).

    \b
    Examples:
      exposure service token create --insurer malakoff-humanis --name "call centre"
      exposure service token create --all-insurers --name "incident team" --rate 100/s
    """
    if (insurer_id is not None) == all_insurers:
        raise click.UsageError("give --insurer ID or --all-insurers")

    @with_store
    async def go(store: Store) -> None:
        parsed = tokens.parse_rate(rate)
        if insurer_id is not None and not await questions.insurer_known(store, insurer_id):
            raise UnknownReference(f"unknown insurer {insurer_id!r}")
        db = await storage.connect(store.location.text)
        try:
            secret, token = await tokens.create(db, name, insurer_id, parsed)
        finally:
            await db.close()
        if as_json:
            emit_json({"token": secret, **token.as_json()})
            return
        click.echo(secret)
        err.print(
            f"token {token.fingerprint} for {insurer_id or 'all insurers'} ({parsed.text}):"
            " shown once, keep it now (only its hash is stored)"
        )

    run(go())


@token_group.command("list")
@json_option
def token_list(as_json: bool) -> None:
    """Every token: fingerprint, name, scope, rate, created and revoked times.

    \b
    Example:
      exposure service token list --json
    """

    @with_store
    async def go(store: Store) -> None:
        db = await storage.connect(store.location.text)
        try:
            found = await tokens.every(db)
        finally:
            await db.close()
        if as_json:
            emit_json([t.as_json() for t in found])
            return
        table = Table(show_header=True)
        for column in ("fingerprint", "name", "insurer", "rate", "created_at", "revoked_at"):
            table.add_column(column)
        for t in found:
            row = t.as_json()
            table.add_row(
                t.fingerprint,
                t.name,
                t.insurer or "(all)",
                t.rate.text,
                str(row["created_at"]),
                str(row["revoked_at"] or ""),
            )
        out.print(table)

    run(go())


@token_group.command("revoke")
@click.argument("fingerprint")
@json_option
def token_revoke(fingerprint: str, as_json: bool) -> None:
    """Revoke a token: a running service refuses it within a second.

    \b
    Example:
      exposure service token revoke 3f2a9c01b7de
    """

    @with_store
    async def go(store: Store) -> None:
        db = await storage.connect(store.location.text)
        try:
            token = await tokens.revoke(db, fingerprint)
        finally:
            await db.close()
        if as_json:
            emit_json(token.as_json())
        else:
            click.echo(f"revoked {token.fingerprint} ({token.name}) at {token.as_json()['revoked_at']}")

    run(go())


@service_group.command("log")
@click.option("--token", "fingerprint", metavar="F", help="Only this token's lookups (its fingerprint).")
@click.option("--since", metavar="X", help="Only lookups at or after X (a date means its start).")
@json_option
def service_log(fingerprint: str | None, since: str | None, as_json: bool) -> None:
    """Who looked up whom, when: the access log, oldest first (NIRs as pseudonyms only).

    \b
    Examples:
      exposure service log --token 3f2a9c01b7de --since 2024-02-07
      exposure service log --json
    """

    @with_store
    async def go(store: Store) -> None:
        start = times.parse_instant(since, "--since", store.tz, date_means="start") if since else None
        db = await storage.existing(store.location.text)
        if db is None:
            if fingerprint is not None:
                raise InvalidFact("no token was ever created for this store")
            return
        table = Table(show_header=True)
        for column in ("seq", "at", "token", "insurer", "kind", "subject", "found"):
            table.add_column(column, overflow="fold")
        try:
            async for entry in access_log.entries(db, fingerprint, start):
                if as_json:
                    emit_json_line(entry.as_json())
                else:
                    table.add_row(
                        str(entry.seq),
                        iso_utc(from_micros(entry.at_us)),
                        entry.token,
                        entry.insurer,
                        entry.kind,
                        entry.subject,
                        "yes" if entry.found else "no",
                    )
        finally:
            await db.close()
        if not as_json:
            out.print(table)

    run(go())
