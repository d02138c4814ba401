"""`exposure store copy`, `store rebuild` and `follow`: moving up to PostgreSQL, projections
rebuilt from the facts, and live projections."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import click

from cli.i18n import _
from cli.render.progress import RosterProgress
from cli.shell import emit_json, err, json_option, run, settings, with_store
from usecases import session, stores
from usecases.session import Store


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
@click.option(
    "--encrypt",
    "protection",
    flag_value="encrypt",
    help="Make the copy a SQLCipher file (every page encrypted) with a key file of its own.",
)
@click.option(
    "--decrypt",
    "protection",
    flag_value="decrypt",
    help="Make the copy a SQLite file in clear (payloads stay as stored) with a key file of its own.",
)
@click.option(
    "--to-key-file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The copy's own key file with --encrypt/--decrypt (default: the copy's path with .key).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Copy even a store that fails `audit verify` (the copy then fails it the same way).",
)
@json_option
def store_copy(target: str, protection: str | None, to_key_file: str | None, force: bool, as_json: bool) -> None:
    """Copy every fact (ids, times, order, bytes) into a new store that shares this key file.

    The copy gives the same answers and the same audit hashes. With --encrypt or
    --decrypt the copy is a SQLite file, encrypted as a whole or kept in clear, with a
    key file of its own (the same NIR and payload keys: pseudonyms and payloads are
    copied as stored). The store is verified first: one that fails verification is not
    copied (exit 3) unless --force, and the leaves its verifications remembered are
    copied too, so a copy never verifies cleaner than its source.

    \b
    Examples:
      exposure --store exposure.db store copy --to postgresql://ledger@db.example/exposure
      exposure --store plain.db store copy --to sealed.db --encrypt
    """

    @with_store
    async def go(store: Store) -> None:
        _path, key_file = session.files_of(settings().location, settings().key_file)
        source, copied, count, copy_key = await stores.copy(
            store,
            target,
            key_file,
            protection=protection,
            to_key_file=Path(to_key_file) if to_key_file else None,
            force=force,
        )
        if as_json:
            emit_json({"from": source, "to": copied, "facts": count, "key_file": str(copy_key)})
        else:
            click.echo(f"Copied {count} facts from {source} to {copied} (key file {copy_key})")

    run(go())


@click.group("key")
def key_group() -> None:
    """Manage the store's key file.

    \b
    Example:
      exposure --store exposure.db key rotate
    """


@key_group.command("rotate")
def key_rotate() -> None:
    """Re-encrypt every page of a SQLCipher store under a new file key and rewrite the key file.

    The NIR pseudonym key and the payload key stay: the stored pseudonyms cannot be
    recomputed without the raw NIRs, which the ledger never keeps, and the audit
    hashes cover the stored payload bytes. Run it when no other command uses the store.

    \b
    Example:
      exposure --store exposure.db key rotate
    """

    async def go() -> None:
        store = await settings().open()
        await stores.rotate_file_key(store)
        click.echo(f"Re-keyed {store.location.display}; new key file {store.key_path} (NIR and payload keys kept)")

    run(go())


@store_group.command("rebuild")
@json_option
def store_rebuild(as_json: bool) -> None:
    """Drop every projection and project every fact again (progress bar on stderr).

    The facts are not touched: this is the way back when a projection is damaged (an
    edited row or position; the error then says to run this) or was edited by hand.

    \b
    Example:
      exposure store rebuild
    """

    @with_store
    async def go(store: Store) -> None:
        started = time.monotonic()
        with RosterProgress(unit="facts") as progress:
            position = await stores.rebuild(store, progress)
        seconds = round(time.monotonic() - started, 3)
        if as_json:
            emit_json({"store": store.location.display, "position": position, "seconds": seconds})
        else:
            click.echo(f"Rebuilt the projections of {store.location.display} from {position} facts in {seconds:.1f} s")

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

        def ended(problem: str) -> None:
            err.print(_("Error: the subscription ended: {problem}").format(problem=problem))

        position = await stores.follow(store, stop, interval, ended)
        err.print(f"stopped at position {position}")

    run(go())
