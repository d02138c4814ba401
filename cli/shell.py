"""What every command shares: store options, output options, errors and exit codes.

Exit codes (SPEC §7): 0 success; 1 input rejected or a domain rule broken
(`Error: ...` on stderr, nothing written); 2 usage error (click); 3 audit
verification failed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import click
from rich.console import Console

import service
from domain.errors import LedgerError
from service import DEFAULT_MAX_LAG, DEFAULT_STORE

EXIT_REJECTED: Final = 1
EXIT_AUDIT_FAILED: Final = 3

P = ParamSpec("P")
T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class AuditFailed(Exception):
    """Audit verification failed: exit code 3."""


class Settings:
    """Global options: where the store and its key file are."""

    def __init__(
        self,
        store: str | None,
        key_file: str | None,
        read_store: str | None = None,
        max_lag: float | None = None,
    ) -> None:
        self.location = store or os.environ.get("EXPOSURE_STORE") or DEFAULT_STORE
        key = key_file or os.environ.get("EXPOSURE_KEY_FILE")
        self.key_file = Path(key) if key else None
        self.read_location = read_store or os.environ.get("EXPOSURE_READ_STORE") or None
        self.max_lag = max_lag if max_lag is not None else _env_seconds("EXPOSURE_MAX_LAG", DEFAULT_MAX_LAG)


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise click.UsageError(f"${name} must be a number of seconds, not {text!r}") from None


def settings() -> Settings:
    """The global options of the running command."""
    ctx = click.get_current_context()
    found = ctx.find_object(Settings)
    if found is None:  # pragma: no cover - the root group always sets it
        raise click.UsageError("internal: missing settings")
    return found


def fail(*lines: str, code: int = EXIT_REJECTED) -> None:
    """Print `Error: ...` lines on stderr and exit with `code`: one line per problem, with any
    line break, control or terminal escape character of quoted user text shown escaped."""
    for line in lines:
        click.echo("Error: " + "".join(c if c.isprintable() else repr(c)[1:-1] for c in line), err=True)
    sys.exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; turn rejections into `Error:` lines and exit codes."""
    try:
        return asyncio.run(coro)
    except LedgerError as problem:
        fail(*problem.problems)
    except AuditFailed as problem:
        fail(str(problem), code=EXIT_AUDIT_FAILED)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach SQLite as lone surrogates
        fail("an argument is not valid UTF-8 text")
    except BrokenPipeError:  # pragma: no cover - e.g. `| head`
        sys.stderr.close()
        sys.exit(0)
    raise AssertionError("unreachable")  # pragma: no cover


def with_store(fn: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """Open the store, pass it as the first argument, close it afterwards."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        cfg = settings()
        async with service.opened(
            cfg.location, cfg.key_file, read_location=cfg.read_location, max_lag=cfg.max_lag
        ) as store:
            return await fn(store, *args, **kwargs)

    return wrapper


def json_option(fn: Callable[P, T]) -> Callable[P, T]:
    """`--json`: machine output on stdout, nothing else there."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (only JSON) on standard output.")(fn)


def horizon_options(fn: Callable[..., T]) -> Callable[..., T]:
    """`--as-known-on X` and `--as-recorded-at Y`, shared by every question; the command
    receives them as one `when` (parsed once, by the service, after catching up)."""

    @functools.wraps(fn)
    def with_when(*args: Any, as_known_on: str | None, as_recorded_at: str | None, **kwargs: Any) -> T:
        return fn(*args, when=service.When(as_known_on, as_recorded_at), **kwargs)

    with_recorded = click.option(
        "--as-recorded-at",
        metavar="Y",
        help="Answer with only the facts recorded at or before Y (what the ledger could say then).",
    )(with_when)
    return click.option(
        "--as-known-on",
        metavar="X",
        help="Knowledge date: a date (end of that day in the ledger's zone) or a datetime with offset. Default: now.",
    )(with_recorded)


def emit(answer: T, as_json: bool, render: Callable[[T], None]) -> None:
    """The one way an answer leaves a command: JSON on stdout, or `render` for people."""
    if as_json:
        emit_json(answer)
    else:
        render(answer)


def emit_json(data: object) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def emit_json_line(data: object) -> None:
    """One compact JSON object per line."""
    click.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
