"""What every command shares: store options, output options, errors and exit codes.

Exit codes (SPEC §7): 0 success; 1 input rejected or a domain rule broken
(`Error: ...` on stderr, nothing written); 2 usage error (click); 3 audit
verification failed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TextIO, TypeVar

import click

from cli import outputs
from cli.i18n import _
from domain import nir as nir_rules
from domain import obligations as obligation_rules
from domain import times
from domain.errors import AuditFailure, LedgerError
from usecases import DEFAULT_STORE, When

if TYPE_CHECKING:
    from rich.console import Console

    from usecases.session import Horizon, Store

    out: Console
    """Standard output for people (rich markup)."""
    err: Console
    """Standard error: progress bars and warnings."""

EXIT_REJECTED: Final = 1
EXIT_AUDIT_FAILED: Final = 3

P = ParamSpec("P")
T = TypeVar("T")


def __getattr__(name: str) -> Console:
    """`out` and `err`, made on first use: rich loads only for commands that print with it."""
    if name not in ("out", "err"):  # e.g. `__path__`, asked by every `from cli.shell import ...`
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console  # noqa: PLC0415 - start-up time: see cli/lazy.py

    if name == "out":
        console = Console(highlight=False, soft_wrap=True)
        if not console.is_terminal:
            console = Console(highlight=False, soft_wrap=True, width=160)
    else:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
    globals()[name] = console
    return console


class Settings:
    """Global options: where the store and its key file are."""

    def __init__(
        self,
        store: str | None,
        key_file: str | None,
        read_store: str | None = None,
        max_lag: float | None = None,
    ) -> None:
        self.named = store or os.environ.get("EXPOSURE_STORE") or None
        """The store the user named (`--store` or `$EXPOSURE_STORE`), None for the default."""
        self.location = self.named or DEFAULT_STORE
        key = key_file or os.environ.get("EXPOSURE_KEY_FILE")
        self.key_file = Path(key) if key else None
        self.read_location = read_store or os.environ.get("EXPOSURE_READ_STORE") or None
        self.max_lag = max_lag if max_lag is not None else _env_seconds("EXPOSURE_MAX_LAG")

    async def open(self, *, stored_bytes_only: bool = False) -> Store:
        """Open the store (exit 1 with a clear line when it cannot be); its warnings go to stderr."""
        from usecases import session  # noqa: PLC0415 - start-up time: see cli/lazy.py

        store = await session.open_store(
            self.location,
            self.key_file,
            stored_bytes_only=stored_bytes_only,
            read_location=self.read_location,
            max_lag=self.max_lag,
        )
        for warning in store.warnings:
            click.echo(f"Warning: {warning}", err=True)
        return store

    def protected_files(self) -> list[tuple[Path, str]]:
        """What no output file may replace: the store, its companions and its key file."""
        from usecases import session  # noqa: PLC0415 - start-up time: see cli/lazy.py

        return outputs.store_files(*session.files_of(self.location, self.key_file))


def _env_seconds(name: str) -> float | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise click.UsageError(f"${name} must be a number of seconds, not {text!r}") from None


def output_to(
    target: str, what: str, *, force: bool, make_folder: bool = False
) -> contextlib.AbstractContextManager[TextIO]:
    """`outputs.output_file` for a FILE argument of the running command, the store's files protected."""
    return outputs.output_file(
        Path(target), force=force, protected=settings().protected_files(), what=what, make_folder=make_folder
    )


def force_option(fn: Callable[P, T]) -> Callable[P, T]:
    """`--force`: replace an existing output file (never the store or a key file)."""
    return click.option(
        "--force", is_flag=True, help="Replace FILE if it exists (never the store, its companions or a key file)."
    )(fn)


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
    from cli.error_messages import translate  # noqa: PLC0415 - only an error pays for it

    for line in lines:
        shown = nir_rules.mask_nirs(translate(line))  # whatever the user put where: a NIR in a ref, a role, a date
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
        click.echo(_("Error: {message}").format(message=text), err=True)
    sys.exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; turn rejections into `Error:` lines and exit codes."""
    import asyncio  # noqa: PLC0415 - start-up time: see cli/lazy.py

    try:
        return asyncio.run(coro)
    except LedgerError as problem:
        fail(*problem.problems)
    except AuditFailure as problem:  # the ledger failed verification: exit 3
        fail(str(problem), code=EXIT_AUDIT_FAILED)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach SQLite as lone surrogates
        fail("an argument is not valid UTF-8 text")
    except BrokenPipeError:  # pragma: no cover - e.g. `| head`
        sys.stderr.close()
        sys.exit(0)
    raise AssertionError("unreachable")  # pragma: no cover


def with_store(fn: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """Open the store, pass it as the first argument, close it afterwards."""
    return _with_store(fn, stored_bytes_only=False)


def with_stored_bytes(fn: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """`with_store` for commands that check the stored bytes alone (`audit verify`, `audit head`):
    a store whose payloads are encrypted opens without its key file."""
    return _with_store(fn, stored_bytes_only=True)


def _with_store(fn: Callable[..., Awaitable[T]], *, stored_bytes_only: bool) -> Callable[..., Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        store = await settings().open(stored_bytes_only=stored_bytes_only)
        try:
            await _warn_if_failed(store)
            return await fn(store, *args, **kwargs)
        finally:
            await store.close()

    return wrapper


async def _warn_if_failed(store: Store) -> None:
    """After a failed verification, every command but the audit's own warns on stderr until one passes."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.parent is not None and ctx.parent.info_name == "audit":
        return
    from usecases import session  # noqa: PLC0415 - start-up time: see cli/lazy.py

    found = await session.last_failure(store)
    if found is None:
        return
    failure, again = found
    when = failure["at"]
    with contextlib.suppress(ValueError):  # an unreadable time is shown as kept
        when = f"{times.to_minute(datetime.fromisoformat(when), store.tz)} {store.tz.key}"
    warn(
        f"this store failed its last verification ({when}): {failure['problem']}."
        f" Answers may be wrong until `{again}` passes."
    )


def json_option(fn: Callable[P, T]) -> Callable[P, T]:
    """`--json`: machine output on stdout, nothing else there."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (only JSON) on standard output.")(fn)


class Moment(click.ParamType[str]):
    """A date or a datetime with offset, read later in the ledger's zone. Never empty: an
    empty value is a usage error (exit 2), not a silent "now"."""

    name = "moment"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not text.strip():
            self.fail("must not be empty (leave the option out for now)", param, ctx)
        return text


MOMENT: Final = Moment()


def knowledge_options(fn: Callable[P, T]) -> Callable[P, T]:
    """`--as-known-on X` and `--as-recorded-at Y`, shared by every query."""
    fn = click.option(
        "--as-recorded-at",
        metavar="Y",
        type=MOMENT,
        help="Answer with only the facts recorded at or before Y (what the ledger could say then).",
    )(fn)
    return click.option(
        "--as-known-on",
        metavar="X",
        type=MOMENT,
        help="Knowledge date: a date (end of that day in the ledger's zone) or a datetime with offset. Default: now.",
    )(fn)


def horizon_options(fn: Callable[P, T]) -> Callable[P, T]:
    """`--as-known-on X`, `--as-recorded-at Y` and `--json`, shared by every query."""
    return json_option(knowledge_options(fn))


def warn(line: str) -> None:
    """One `Warning: ...` line on stderr (never on stdout: `--json` output stays pure)."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)  # as `fail` shows user text
    click.echo(_("Warning: {message}").format(message=shown), err=True)


async def horizon_at(
    store: Store, known: str | None, what: str = "--as-known-on", as_recorded_at: str | None = None
) -> Horizon:
    """The horizon "as known on `known` (named `what` in errors), as recorded at Y", caught up.

    A knowledge time in the future answers what is known now (no fact is ever known
    later than its recording): said in a warning, so that nobody reads it as a forecast.
    """
    from usecases import session  # noqa: PLC0415 - start-up time: see cli/lazy.py

    now = datetime.now(UTC)
    h = await session.horizon(store, When(known, as_recorded_at), known_name=what)
    if known and h.as_known_on > now:
        warn(_("{option} {value} is in the future: the answer is what is known now").format(option=what, value=known))
    return h


def emit_json(data: object) -> None:
    """One JSON document on stdout (a msgspec Struct anywhere in `data` by its fields, in order)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_struct_value))


def emit_json_line(data: object) -> None:
    """One compact JSON object per line (Structs as in `emit_json`)."""
    click.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_struct_value))


def _struct_value(value: object) -> object:
    """What `json` cannot encode itself: a Struct's JSON value (`msgspec.to_builtins`: its fields
    in declaration order, an `UNSET` field no key); msgspec's TypeError for anything else."""
    import msgspec  # noqa: PLC0415 - start-up time: see cli/lazy.py

    return msgspec.to_builtins(value)


def rules_option(text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--rules`: which versioned deadline rule applies (shared by `report` and `obligations`)."""
    return click.option(
        "--rules",
        "rule_id",
        type=click.Choice(obligation_rules.RULE_IDS),
        default=obligation_rules.DEFAULT_RULE,
        show_default=True,
        help=text,
    )
