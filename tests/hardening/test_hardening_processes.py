"""Orphans and hangs (issue 10 §5), through the real `exposure` command in subprocesses:

- `kill -9` of `members import` (the main process only, as an operator or the OOM killer
  would) during its check pass leaves no worker process alive;
- a store path that is not a SQLite file, a folder or a FIFO as the store, and a FIFO (or any
  file that is not a regular file) as the key file are one `Error:` line, exit 1, at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import EXPOSURE, valid_nir

TIMEOUT = 30  # seconds: a hang fails the test instead of blocking the suite


def exposure(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXPOSURE), *args], capture_output=True, text=True, timeout=timeout, check=False)


def workers_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def roster_import(store: Path, roster: Path) -> tuple[str, ...]:
    """The arguments of `exposure members import` of `roster` into `store`."""
    return ("--store", str(store), "members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01")


def big_roster(path: Path, rows: int = 100_000) -> None:
    """A roster large enough (several MiB) for the check pass to use worker processes."""
    lines = ["ref,role,contract,from,until,nir"]
    lines.extend(f"m{n:07d},holder,C{n % 7},2015-01-01,,{valid_nir(f'1{n % 100:02d}01{n:08d}')}" for n in range(rows))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_kill_9_of_members_import_during_its_check_pass_leaves_no_worker_alive(tmp_path):
    store, roster = tmp_path / "store" / "ledger.db", tmp_path / "roster.csv"
    big_roster(roster)
    assert exposure("--store", str(store), "init").returncode == 0
    orphans: list[int] = []
    for _ in range(3):
        process = subprocess.Popen(
            [str(EXPOSURE), *roster_import(store, roster)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while process.poll() is None and time.monotonic() < deadline and not workers:
            workers = workers_of(process.pid)
            time.sleep(0.01)
        assert workers, "the check pass never started its workers"

        os.kill(process.pid, signal.SIGKILL)  # the main process only, not its group
        process.wait(timeout=10)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.05)
        left = [pid for pid in workers if alive(pid)]
        for pid in left:  # never leave them behind, even when the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        orphans.extend(left)
    assert orphans == []
    again = exposure(*roster_import(store, roster), timeout=600)
    assert again.returncode == 0, again.stderr  # nothing holds the spool or the WAL


def assert_clear_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    assert fragment in line


@pytest.mark.parametrize(
    "content",
    [b"just some notes\n" * 100, b"\x00" * 5000, b"SQLite format 3\x00" + b"\xff" * 4000, b""],
    ids=["text", "zeros", "bad-header", "empty"],
)
@pytest.mark.parametrize(
    "command", [["summary", "--incident", "x"], ["audit", "verify"], ["init"]], ids=["summary", "verify", "init"]
)
def test_a_store_that_is_not_a_sqlite_file_is_a_clear_error_at_once(tmp_path, content, command):
    store = tmp_path / "notes.db"
    store.write_bytes(content)
    before = store.read_bytes()
    key = real_key_file(tmp_path)

    result = exposure("--store", str(store), "--key-file", str(key), *command)

    assert_clear_error(result, str(store))
    assert store.read_bytes() == before


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_store_that_is_a_folder_or_a_fifo_is_a_clear_error_at_once(tmp_path, kind):
    store = tmp_path / "ledger.db"
    if kind == "folder":
        store.mkdir()
    else:
        os.mkfifo(store, 0o600)

    result = exposure("--store", str(store), "--key-file", str(real_key_file(tmp_path)), "summary", "--incident", "x")

    assert_clear_error(result, "not a regular file")


def real_key_file(folder: Path) -> Path:
    """The key file of a real store in `folder`/real (so that only the store is wrong)."""
    store = folder / "real" / "real.db"
    assert exposure("--store", str(store), "init").returncode == 0
    return store.with_suffix(".key")


def test_a_key_file_that_is_a_fifo_is_a_clear_error_at_once(tmp_path):
    store = tmp_path / "ledger.db"
    assert exposure("--store", str(store), "init").returncode == 0
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)

    result = exposure("--store", str(store), "--key-file", str(fifo), "member", "--nir", valid_nir("2840175123456"))

    assert_clear_error(result, "not a regular file")


def test_a_key_file_that_is_a_folder_or_a_device_is_a_clear_error(tmp_path):
    store = tmp_path / "ledger.db"
    assert exposure("--store", str(store), "init").returncode == 0
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)

    as_folder = exposure(
        "--store", str(store), "--key-file", str(folder), "member", "--nir", valid_nir("2840175123456")
    )
    as_device = exposure(
        "--store", str(store), "--key-file", "/dev/zero", "member", "--nir", valid_nir("2840175123456")
    )

    assert_clear_error(as_folder, "not a regular file")
    assert_clear_error(as_device, "not a regular file")
