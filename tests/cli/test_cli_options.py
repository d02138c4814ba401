"""Options that used to be ignored or misread (issue 10 §4 and §5 "smaller"), through the
real `exposure` command: an empty knowledge date, `--store` for the demo, `init` asked
for other settings than the store has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.support import INCIDENT, Cli, ledger_size

pytestmark = pytest.mark.two_backends  # tests/conftest.py: on SQLite and on PostgreSQL


@pytest.mark.parametrize(
    "args",
    [
        ["summary", "--incident", INCIDENT, "--as-known-on", ""],
        ["summary", "--incident", INCIDENT, "--as-recorded-at", " "],
        ["obligations", "--incident", INCIDENT, "--as-known-on", ""],
        ["diff", "--incident", INCIDENT, "--from", ""],
        ["members", "export", "--incident", INCIDENT, "--as-known-on", ""],
        ["audit", "log", "--from", ""],
    ],
    ids=["summary", "summary-recorded", "obligations", "diff", "members-export", "audit-log"],
)
def test_an_empty_knowledge_date_is_a_usage_error_not_now(cli: Cli, args):
    result = cli(*args)

    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "must not be empty" in result.stderr
    assert result.stdout == ""


def test_an_empty_knowledge_date_is_a_usage_error_in_a_real_process(store_path):
    result = run("--store", str(store_path), "summary", "--incident", INCIDENT, "--as-known-on", "")

    assert result.returncode == 2
    assert "--as-known-on" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_goes_into_the_store_named_by_store(tmp_path: Path):
    target = tmp_path / "mine" / "demo-ledger.db"

    result = run("--store", str(target), "demo", "--members", "3", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"] == str(target)
    assert ledger_size(target) > 0
    assert target.with_suffix(".key").exists()
    summary = run("--store", str(target), "summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07", "--json")
    assert json.loads(summary.stdout)["insurers"]["affected"]


def test_the_demo_refuses_a_store_that_already_exists(store_path):
    before = ledger_size(store_path)

    result = run("--store", str(store_path), "demo", "--members", "2")

    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert ledger_size(store_path) == before


def test_the_demo_dir_wins_over_the_store(tmp_path: Path):
    result = run("--store", str(tmp_path / "a.db"), "demo", "--dir", str(tmp_path / "b"), "--members", "2", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"] == str(tmp_path / "b" / "demo.db")
    assert not (tmp_path / "a.db").exists()


# -- init on an existing store ----------------------------------------------------------


def settings_of(cli: Cli) -> dict[str, str]:
    result = cli("init", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("options", "stored", "asked"),
    [
        (["--timezone", "Asia/Tokyo"], "time zone Europe/Paris", "time zone Asia/Tokyo"),
        (["--timezone", "UTC"], "time zone Europe/Paris", "time zone UTC"),
        (["--encrypt"], "no encryption", "--encrypt"),
        (
            ["--timezone", "Asia/Tokyo", "--encrypt"],
            "time zone Europe/Paris and no encryption",
            "time zone Asia/Tokyo and --encrypt",
        ),
    ],
    ids=["timezone", "explicit-utc", "encrypt", "both"],
)
def test_init_with_other_settings_names_both_and_changes_nothing(store_path, options, stored, asked):
    cli = Cli(store_path)
    before = settings_of(cli)
    key = cli.key_path.read_bytes()

    result = run("--store", str(store_path), "init", *options)

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: store ")
    assert f"already exists with {stored}; init asked for {asked}: nothing changed" in line
    assert settings_of(cli) == before
    assert cli.key_path.read_bytes() == key
    assert ledger_size(store_path) == 0


def test_init_with_the_same_settings_again_says_already_initialised(store_path):
    result = run("--store", str(store_path), "init", "--timezone", "Europe/Paris")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Already initialised: ")
    assert "(time zone Europe/Paris, key file" in result.stdout


def test_init_encrypt_again_on_an_encrypted_store_says_already_initialised(tmp_path: Path):
    store = str(tmp_path / "secret.db")
    assert run("--store", store, "init", "--encrypt").returncode == 0

    again = run("--store", store, "init", "--encrypt")
    plain = run("--store", store, "init", "--json")

    assert again.returncode == plain.returncode == 0, (again.stderr, plain.stderr)
    assert again.stdout.startswith(f"Already initialised: {store} (time zone UTC, key file")
    assert json.loads(plain.stdout)["encrypted"] is True
