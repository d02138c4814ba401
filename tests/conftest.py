"""Shared fixtures: real SQLite stores in `tmp_path`, the real CLI, valid NIRs.

`async def` tests run on their own event loop (`asyncio.run`) through the hook
below, so the Store API is exercised exactly as the CLI uses it, without a plugin.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from projections.store import Store

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


# -- environment ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No store, key file or actor leaks in from the developer's shell."""
    monkeypatch.delenv("EXPOSURE_STORE", raising=False)
    monkeypatch.delenv("EXPOSURE_KEY_FILE", raising=False)
    monkeypatch.setenv("EXPOSURE_ACTOR", "tester")


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
def store_path(tmp_path: Path) -> Path:
    """An initialised, empty store (time zone Europe/Paris) in its own folder."""
    path = tmp_path / "store" / "ledger.db"

    async def create() -> None:
        store, created = await Store.init(str(path), timezone=PARIS)
        await store.close()
        assert created

    asyncio.run(create())
    return path


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[Store]:
    """An open Store on `path`, closed afterwards."""
    store = await Store.open(str(path))
    try:
        yield store
    finally:
        await store.close()


async def append(path: Path, *facts: dict[str, Any]) -> list[str]:
    """Append facts to the store at `path` (one batch); return the appended ids."""
    async with opened(path) as store:
        result = await store.append(labelled(*facts))
    return [recorded.fact.id for recorded in result.appended]


def ledger_size(path: Path) -> int:
    """How many facts the ledger holds, read from the event table itself."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    db.close()
    return int(count)


# -- the command line -----------------------------------------------------------------


class Cli:
    """`exposure --store STORE ...` through click's CliRunner on the real `main` group."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:  # noqa: A002 - click's name
        return self.runner.invoke(main, ["--store", str(self.path), *args], input=input, catch_exceptions=False)


@pytest.fixture
def cli(store_path: Path) -> Cli:
    """The CLI on an initialised store."""
    return Cli(store_path)


@pytest.fixture
def new_cli(tmp_path: Path) -> Cli:
    """The CLI on a path where no store exists yet."""
    return Cli(tmp_path / "fresh" / "ledger.db")


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
