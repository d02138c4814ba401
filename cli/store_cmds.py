"""`exposure store copy` and `exposure follow`: moving up to PostgreSQL, and live projections."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import click

from cli.shell import emit_json, err, json_option, run, settings, with_store
from domain.errors import StoreError
from service import session, writes
from service.session import Store


@click.group("store")
def store_group() -> None:
    """Manage the store itself.

    \b
    Example:
      exposure --store exposure.db store copy --to postgresql://ledger@db.example/exposure
    """


@store_group.command("copy")
@click.option(
    "--to", "target", required=True, metavar="STORE", help="The new store (a PostgreSQL URL or a SQLite path)."
)
@json_option
def store_copy(target: str, as_json: bool) -> None:
    """Copy every fact (ids, times, order, bytes) into a new store that shares this key file.

    The copy gives the same answers and the same audit hashes.

    \b
    Example:
      exposure --store exposure.db store copy --to postgresql://ledger@db.example/exposure
    """

    @with_store
    async def go(store: Store) -> None:
        info = await writes.copy_store(store, target, settings().key_file)
        key_file = info.pop("key_file")
        if as_json:
            emit_json(info)
        else:
            click.echo(f"Copied {info['facts']} facts from {info['from']} to {info['to']} (key file {key_file})")

    run(go())


@click.command()
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Seconds between polls (SQLite).",
)
@click.option("--once", is_flag=True, help="Catch up once and stop (for scripts).")
def follow(interval: float, once: bool) -> None:
    """Keep the projections current until interrupted (PostgreSQL: LISTEN/NOTIFY; SQLite: polling).

    Queries catch up by themselves; following keeps them instant on a busy ledger.

    \b
    Example:
      exposure --store postgresql://ledger@db.example/exposure follow
    """

    @with_store
    async def go(store: Store) -> None:
        position = await session.catch_up(store)
        err.print(f"following {store.location.display} from position {position} (Ctrl-C to stop)")
        if once:
            return
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await writes.follow(store, stop, interval, on_error=lambda text: err.print(f"Error: {text}"))
        err.print(f"stopped at position {await session.catch_up(store)}")

    run(go())


__all__ = ["Path", "StoreError"]
