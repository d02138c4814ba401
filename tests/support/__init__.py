"""Shared fixtures: real stores, the real CLI, valid NIRs.

`async def` tests run on their own event loop (`asyncio.run`) through the hook
below, so the Store API is exercised exactly as the CLI uses it, without a plugin.

One fixture, two backends: `store_path` is a store on the backend named by the
`backend` fixture: an SQLite file in `tmp_path` (`Path`), or a fresh database on one
real PostgreSQL server started for the session (`str` URL; the key file is then
`./exposure.key` in the test's own working folder). Modules marked
`pytestmark = pytest.mark.two_backends` run every test that uses a store on both;
a test marked `sqlite_only` (say why in a comment) runs on SQLite alone.

On both: test_queries, test_projection (including kill -9 mid-batch and several writer
processes), test_history, test_obligations, test_cli, test_audit_verify (the attacks edit
PostgreSQL rows with the append-only triggers disabled), test_audit_replay,
test_audit_export; test_postgres covers what needs a shared server. SQLite only, being about
the file itself or not about the backend: test_hardening_* (byte edits and scans of the .db
file, crash and lock behaviour of SQLite), test_privacy, test_roster_resume (kill -9 of a
roster import into a file), test_model_property, test_times, test_report,
test_audit_checkpoints, test_audit_log (rendering, signing and log filters over the same
queries that run on both).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
import pty
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from click.testing import CliRunner, Result

from cli.main import main
from ledger.store import Store
from tests.support.postgres_server import running_server

PARIS = "Europe/Paris"
INCIDENT = "viamedis-2024-01"
OPERATOR = "Viamedis"
EXPOSURE = Path(sys.executable).with_name("exposure")
"""The installed console script: the real entry point."""


# -- async tests ----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests with `asyncio.run`, one fresh event loop per test."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


# -- backends -------------------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")
Location = Path | str
"""A store: an SQLite file, or a PostgreSQL URL."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of `two_backends` modules (that use a store) on SQLite and on PostgreSQL."""
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("two_backends") is None:
        return
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        return
    metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` unless the test is parametrized over both backends."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One real PostgreSQL server for the whole session (started only when a test needs it)."""
    with running_server() as url:
        yield url


_DATABASES = itertools.count(1)


def is_postgres(location: Location) -> bool:
    """Whether `location` names a PostgreSQL store."""
    return str(location).startswith("postgresql://")


@pytest.fixture
def new_location(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Location]:
    """Where a store can be created: a path in its own folder, or a fresh, empty PostgreSQL database."""
    if backend == "sqlite":
        yield tmp_path / "store" / "ledger.db"
        return
    import psycopg  # noqa: PLC0415

    server = request.getfixturevalue("pg_server")
    folder = tmp_path / "pg"
    folder.mkdir()
    monkeypatch.chdir(folder)  # the key file of a PostgreSQL store defaults to ./exposure.key
    name = f"t{next(_DATABASES)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield server.replace("/ledger?", f"/{name}?")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def key_path(location: Location) -> Path:
    """The default key file of the store at `location`."""
    return Path("exposure.key") if is_postgres(location) else Path(location).with_suffix(".key")


def store_exists(location: Location) -> bool:
    """Whether a store was created at `location`."""
    if not is_postgres(location):
        return Path(location).exists()
    import psycopg  # noqa: PLC0415

    with psycopg.connect(str(location)) as conn:
        row = conn.execute("SELECT to_regclass('exposure_settings') IS NOT NULL").fetchone()
    return bool(row and row[0])


# -- environment ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No store, key file, actor or language leaks in from the developer's shell (tests that
    want French say `--lang fr` or set LANG themselves)."""
    monkeypatch.delenv("EXPOSURE_STORE", raising=False)
    monkeypatch.delenv("EXPOSURE_KEY_FILE", raising=False)
    monkeypatch.setenv("EXPOSURE_ACTOR", "tester")
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


# -- NIRs -----------------------------------------------------------------------------


def nir_key(first_13: str) -> str:
    """The 2-digit key of SPEC §6, computed independently of `domain.nir`."""
    department = first_13[5:7]
    digits = first_13[:5] + {"2A": "19", "2B": "18"}.get(department, department) + first_13[7:]
    return f"{97 - int(digits) % 97:02d}"


def valid_nir(first_13: str) -> str:
    """`first_13` followed by its key."""
    return first_13 + nir_key(first_13)


def nir_with_key(key: int, prefix: str = "18401751234") -> str:
    """A valid NIR whose key is exactly `key` (1..97): the last two digits of the
    13 are chosen so that N mod 97 = 97 - key."""
    for tail in range(100):
        first_13 = f"{prefix}{tail:02d}"
        if nir_key(first_13) == f"{key:02d}":
            return first_13 + f"{key:02d}"
    raise ValueError(f"no NIR with key {key} after {prefix}")  # pragma: no cover


NIR_ALICE = valid_nir("2840175123456")
NIR_BRUNO = valid_nir("1750969001042")
NIR_CORSE = valid_nir("190032A012345")


def spaced(nir: str) -> str:
    """The usual printed form: `2 84 01 75 123 456 78`."""
    return " ".join((nir[:1], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]))


# -- facts ----------------------------------------------------------------------------


def opening(incident: str = INCIDENT, **keys: Any) -> dict[str, Any]:
    """The attack-discovered fact that opens an incident (discovered 2024-01-29)."""
    return {
        "kind": "attack-discovered",
        "id": f"open-{incident}",
        "incident": incident,
        "operator": OPERATOR,
        "occurred_on": "2024-01-22",
        "known_on": "2024-01-29",
        **keys,
    }


def fact(kind: str, **keys: Any) -> dict[str, Any]:
    """A fact object as `exposure import` reads it; `incident` defaults for kinds that take one."""
    return {"kind": kind, **keys}


def labelled(*facts: dict[str, Any]) -> list[tuple[str, object]]:
    """Facts labelled `line 1`, `line 2`, ... as `Store.append` takes them."""
    return [(f"line {number}", item) for number, item in enumerate(facts, start=1)]


# -- stores ---------------------------------------------------------------------------


@pytest.fixture
def store_path(new_location: Location) -> Location:
    """An initialised, empty store (time zone Europe/Paris): a file in its own folder, or a PostgreSQL URL."""

    async def create() -> None:
        store, created = await Store.init(str(new_location), timezone=PARIS)
        await store.close()
        assert created

    asyncio.run(create())
    return new_location


@asynccontextmanager
async def opened(path: Location) -> AsyncIterator[Store]:
    """An open Store on `path`, closed afterwards."""
    store = await Store.open(str(path))
    try:
        yield store
    finally:
        await store.close()


async def append(path: Location, *facts: dict[str, Any]) -> list[str]:
    """Append facts to the store at `path` (one batch); return the appended ids."""
    async with opened(path) as store:
        result = await store.append(labelled(*facts))
    return [recorded.fact.id for recorded in result.appended]


def ledger_size(path: Location) -> int:
    """How many facts the ledger holds, read from the event table itself."""
    if is_postgres(path):
        import psycopg  # noqa: PLC0415

        with psycopg.connect(str(path)) as conn:
            row = conn.execute("SELECT COUNT(*) FROM exposure_events").fetchone()
        return int(row[0]) if row else 0
    with read_file(Path(path)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    return int(count)


@contextmanager
def read_file(path: Path, key_file: Path | None = None) -> Iterator[Any]:
    """A read-only connection to a store's SQLite file: through sqlcipher3 with the file key of
    its key file (default: beside it) when it is a SQLCipher file."""
    uri = f"file:{path}?mode=ro"
    if path.read_bytes()[:16] == b"SQLite format 3\x00":
        db: Any = sqlite3.connect(uri, uri=True)
    else:
        keys = json.loads((key_file or path.with_suffix(".key")).read_text(encoding="utf-8"))
        db = sqlcipher3.connect(uri, uri=True)
        db.execute(f"PRAGMA key = \"x'{keys['file_key']}'\"")
    try:
        yield db
    finally:
        db.close()


# -- the command line -----------------------------------------------------------------


class Cli:
    """`exposure --store STORE ...` through click's CliRunner on the real `main` group."""

    def __init__(self, path: Location) -> None:
        self.path = path
        self.key_path = key_path(path)
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:  # noqa: A002 - click's name
        return self.runner.invoke(main, ["--store", str(self.path), *args], input=input, catch_exceptions=False)


@pytest.fixture
def cli(store_path: Location) -> Cli:
    """The CLI on an initialised store."""
    return Cli(store_path)


@pytest.fixture
def new_cli(new_location: Location) -> Cli:
    """The CLI on a location where no store exists yet."""
    return Cli(new_location)


def error_lines(result: Result) -> list[str]:
    """The lines a command wrote on standard error."""
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file in an inputs folder kept apart from the store folder."""
    folder = tmp_path / "inputs"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def on_a_terminal(argv: list[str], stdout: Any = subprocess.DEVNULL) -> tuple[int, str]:
    """Run `argv` with its stderr on a pseudo-terminal (as a user's shell gives it): its exit
    code and what it showed there (progress bars draw only on a terminal)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(timeout=60), shown.decode("utf-8", "replace")
