"""Start-up: a command loads what it needs and nothing more (issue 14).

Each check runs a fresh interpreter and reads `sys.modules` afterwards: the entry module
and `exposure --version` load click and the command table only; a query loads the store
and its renderer, never psycopg, the report or the history modules, and on projections that
are current neither the fact log (eventsourcing) nor the parser and rules of the write side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest

from cli.lazy import load
from cli.main import COMMANDS
from projections import psycopg_start
from tests.support import EXPOSURE
from tests.support.postgres_server import fresh_database

NEVER_AT_START = (
    "psycopg",
    "psycopg_pool",
    "eventsourcing",
    "eventsourcing.postgres",
    "aiosqlite",
    "cryptography",
    "rich",
    "msgspec",
    "asyncio",
    "importlib.metadata",
    "ledger.store",
    "ledger.pg_recorder",
    "projections.history",
    "cli.commands.report",
    "cli.render.report",
)
NEVER_FOR_A_QUERY = (
    "psycopg",
    "eventsourcing",
    "ledger.application",
    "ledger.sqlcipher_events",
    "sqlcipher3",  # a plain store's query loads no SQLCipher
    "domain.parse",
    "domain.rules",
    "cryptography",
    "ledger.pg_recorder",
    "projections.history",
    "cli.commands.report",
    "cli.render.report",
    "cli.commands.history",
    "cli.commands.audit",
    "cli.commands.audit_verify",
    "usecases.history",
    "usecases.audit",
    "rich.table",  # JSON, or a member's lines: no table drawn
    "projections.projector.facts",  # projections that are current: nothing projected
    "projections.projector.members",
    "projections.projector.scopes",
    "projections.projector.rows",
)


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (with `env` added to the environment)."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)), file=sys.__stderr__)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=os.environ | (env or {}),
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_importing_the_entry_module_loads_no_store_psycopg_or_report():
    modules = modules_after("import cli.main")

    assert loaded(modules, NEVER_AT_START) == []


def test_version_loads_no_more_than_the_entry_module():
    modules = modules_after("from cli.main import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass")

    assert loaded(modules, NEVER_AT_START) == []


def test_the_real_entry_point_prints_the_package_version():
    done = subprocess.run([str(EXPOSURE), "--version"], capture_output=True, text=True, check=False, timeout=60)

    assert done.returncode == 0
    assert done.stdout.strip().endswith("version 0.1.0")


def test_a_summary_on_current_projections_loads_neither_the_fact_log_nor_psycopg_nor_the_report(tmp_path):
    store = tmp_path / "s.db"
    subprocess.run([str(EXPOSURE), "--store", str(store), "init"], check=True, capture_output=True, timeout=60)
    facts = '{"kind": "attack-discovered", "incident": "x", "operator": "O", "occurred_on": "2024-01-02"}\n'
    subprocess.run(
        [str(EXPOSURE), "--store", str(store), "import", "-"],
        input=facts,
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [str(EXPOSURE), "--store", str(store), "summary", "--incident", "x"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # the projections are current from now on
    code = (
        "from cli.main import main\n"
        f"try:\n    main(['--store', {str(store)!r}, 'summary', '--incident', 'x', '--json'])\n"
        "except SystemExit:\n    pass"
    )

    modules = modules_after(code)

    assert "ledger.store" in modules  # the probe did run the query
    assert loaded(modules, NEVER_FOR_A_QUERY) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_name_in_the_command_table_loads_a_command_of_that_name(name):
    command = load(COMMANDS[name])

    assert isinstance(command, click.Command)
    assert command.name == name


def test_a_table_entry_that_names_no_command_is_refused():
    with pytest.raises(TypeError, match="not a click command"):
        load("cli.main:COMMANDS")


def test_recording_a_fact_loads_neither_the_roster_import_nor_its_worker_processes(tmp_path):
    store = tmp_path / "s.db"
    subprocess.run([str(EXPOSURE), "--store", str(store), "init"], check=True, capture_output=True, timeout=60)
    code = (
        "from cli.main import main\n"
        f"try:\n    main(['--store', {str(store)!r}, 'record', 'attack-discovered', '--incident', 'x',"
        " '--operator', 'O', '--occurred-on', '2024-01-02'])\n"
        "except SystemExit:\n    pass"
    )

    modules = modules_after(code)

    assert "ledger.application" in modules  # the probe did append through the fact log
    assert loaded(modules, ("ledger.roster", "multiprocessing", "csv")) == []


def test_a_member_answered_in_lines_loads_no_table_nor_projector(tmp_path):
    store = tmp_path / "s.db"
    subprocess.run([str(EXPOSURE), "--store", str(store), "init"], check=True, capture_output=True, timeout=60)
    roster = tmp_path / "roster.csv"
    roster.write_text("ref,role,contract\nA1,holder,X\n", encoding="utf-8")
    subprocess.run(
        [str(EXPOSURE), "--store", str(store), "members", "import", "--insurer", "alan", str(roster)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    code = (
        "from cli.main import main\n"
        f"try:\n    main(['--store', {str(store)!r}, 'member', '--insurer', 'alan', '--ref', 'A1'])\n"
        "except SystemExit:\n    pass"
    )

    modules = modules_after(code)

    assert "projections.queries" in modules  # the probe did answer
    assert loaded(modules, NEVER_FOR_A_QUERY) == []


def test_recording_a_fact_on_postgresql_reads_no_package_metadata(pg_server, tmp_path, request):
    name = "t_startup_" + request.node.name.lower()[:30]
    url = fresh_database(pg_server, name)
    env = {"EXPOSURE_KEY_FILE": str(tmp_path / "pg.key")}
    subprocess.run(
        [str(EXPOSURE), "--store", url, "init"], check=True, capture_output=True, timeout=60, env=os.environ | env
    )
    code = (
        "from cli.main import main\n"
        f"try:\n    main(['--store', {url!r}, 'record', 'attack-discovered', '--incident', 'x',"
        " '--operator', 'O', '--occurred-on', '2024-01-02'])\n"
        "except SystemExit:\n    pass"
    )

    modules = modules_after(code, env)

    assert "eventsourcing.postgres" in modules  # the probe did append on PostgreSQL
    assert loaded(modules, ("importlib.metadata", "email", "ledger.roster", "rich")) == []


@pytest.mark.parametrize("package", psycopg_start.PACKAGES)
def test_the_versions_set_before_psycopg_loads_are_those_of_its_installed_metadata(package):
    import importlib.metadata  # noqa: PLC0415 - the slow path the start-up avoids, as the reference

    assert psycopg_start.installed_version(package) == importlib.metadata.version(package)
