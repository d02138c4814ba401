"""Output files never destroy the ledger (issue 10 §5 "Outputs overwrite anything"), through
the real `exposure` command: `audit export FILE` and `report --html FILE` refuse the store,
its `-wal`/`-shm`, its key file and any other store or key file, by any path (relative,
symlink, hard link), even with `--force`; an existing file is replaced only with `--force`,
by writing a new file and renaming it over the old one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.cli.test_cli import jsonl, run
from tests.support import INCIDENT, opening

EXPORT = ("audit", "export")
REPORT = ("report", "--incident", INCIDENT, "--html")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ledger(store_path: Path, tmp_path: Path) -> Path:
    """A SQLite store holding one fact (its key file beside it)."""
    facts = tmp_path / "facts.jsonl"
    facts.write_text(jsonl(opening()), encoding="utf-8")
    assert run("--store", str(store_path), "import", str(facts)).returncode == 0
    return store_path


def write(ledger: Path, command: tuple[str, ...], target: str, *extra: str, cwd: Path | None = None):
    return run("--store", str(ledger), *command, target, *extra, cwd=cwd)


def assert_refused(result, fragment: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    assert fragment in line
    assert "Traceback" not in result.stderr


WRITERS = [EXPORT, REPORT]
IDS = ["audit-export", "report-html"]


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_an_output_onto_the_key_file_is_refused_and_the_key_survives(ledger, command, force):
    key = ledger.with_suffix(".key")
    before = digest(key)

    result = write(ledger, command, str(key), *force)

    assert_refused(result, "refusing to overwrite it")
    assert digest(key) == before
    assert run("--store", str(ledger), "audit", "verify").returncode == 0


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"], ids=["db", "wal", "shm"])
def test_an_output_onto_the_store_or_its_wal_or_shm_is_refused(ledger, command, suffix):
    target = Path(f"{ledger}{suffix}")
    before = target.read_bytes() if target.exists() else None

    result = write(ledger, command, str(target), "--force")

    assert_refused(result, "refusing to overwrite it")
    assert (target.read_bytes() if target.exists() else None) == before
    assert run("--store", str(ledger), "audit", "verify").returncode == 0


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
def test_the_store_is_refused_by_a_relative_path_a_symlink_and_a_hard_link(ledger, command, tmp_path):
    key = ledger.with_suffix(".key")
    before = digest(key), digest(ledger)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "innocent.jsonl").symlink_to(key)
    os.link(ledger, elsewhere / "hard.html")

    relative = write(ledger, command, f"../{ledger.parent.name}/./{key.name}", "--force", cwd=elsewhere)
    symlinked = write(ledger, command, str(elsewhere / "innocent.jsonl"), "--force")
    hard = write(ledger, command, str(elsewhere / "hard.html"), "--force")

    for result in (relative, symlinked, hard):
        assert_refused(result, "refusing to overwrite it")
    assert (digest(key), digest(ledger)) == before


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
def test_another_stores_database_or_key_file_is_refused_even_with_force(ledger, command, tmp_path):
    other = tmp_path / "other" / "other.db"
    assert run("--store", str(other), "init").returncode == 0
    before = digest(other), digest(other.with_suffix(".key"))

    on_store = write(ledger, command, str(other), "--force")
    on_key = write(ledger, command, str(other.with_suffix(".key")), "--force")

    assert_refused(on_store, "is a SQLite database")
    assert_refused(on_key, "is a key file")
    assert (digest(other), digest(other.with_suffix(".key"))) == before


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
def test_an_existing_file_is_replaced_only_with_force(ledger, command, tmp_path):
    target = tmp_path / "out" / "answer.txt"
    target.parent.mkdir()
    target.write_text("precious\n", encoding="utf-8")

    refused = write(ledger, command, str(target))
    assert_refused(refused, "already exists (give --force to replace it)")
    assert target.read_text(encoding="utf-8") == "precious\n"

    replaced = write(ledger, command, str(target), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert target.read_text(encoding="utf-8") != "precious\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["answer.txt"]  # no temporary file left


@pytest.mark.parametrize("command", WRITERS, ids=IDS)
def test_force_writes_a_new_file_and_renames_it_over_the_old_one(ledger, command, tmp_path):
    target = tmp_path / "answer.txt"
    target.write_text("old\n", encoding="utf-8")
    with target.open(encoding="utf-8") as reader:  # a reader that opened the old file
        old_inode = os.fstat(reader.fileno()).st_ino

        result = write(ledger, command, str(target), "--force")

        assert result.returncode == 0, result.stderr
        assert reader.read() == "old\n"  # never truncated or rewritten in place
    assert target.stat().st_ino != old_inode


def test_a_failed_report_leaves_the_old_file_as_it_was(ledger, tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old report\n", encoding="utf-8")

    result = run("--store", str(ledger), "report", "--incident", "no-such-incident", "--html", str(target), "--force")

    assert result.returncode == 1
    assert target.read_text(encoding="utf-8") == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_new_output_is_created_when_absent(ledger, tmp_path):
    target = tmp_path / "new" / "ledger.jsonl"
    target.parent.mkdir()

    result = write(ledger, EXPORT, str(target))

    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8").count("\n") == 2  # one fact and the head


def test_audit_keygen_never_writes_its_public_key_through_a_symlink(ledger, tmp_path):
    wal = Path(f"{ledger}-wal")
    wal.unlink(missing_ok=True)
    key = tmp_path / "dpo.key"
    Path(f"{key}.pub").symlink_to(wal)  # dangling: the store's WAL is not there between commands

    result = run("--store", str(ledger), "audit", "keygen", str(key))

    assert_refused(result, "already exists")
    assert not wal.exists()
    assert not key.exists()
