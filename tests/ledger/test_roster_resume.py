"""`exposure members import` killed with SIGKILL mid-way, then run again, completes the roster
exactly once: the real command in a subprocess, on a roster of 100,000 rows, killed during the
check pass, during the appends and during the members catch-up."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import EXPOSURE, INCIDENT, valid_nir

ROWS = 100_000
BATCH = 2_000
FACTS = ROWS // BATCH


def write_roster(path: Path) -> None:
    """100,000 members of `mh`, half with a NIR, a few refs enrolled twice (the later row wins)."""
    lines = ["ref,role,contract,from,until,nir"]
    for n in range(ROWS):
        ref = f"m{n:06d}" if n % 1000 != 999 else f"m{n - 500:06d}"  # 100 re-enrolments in the file
        nir = valid_nir(f"1{n % 100:02d}01{n:08d}") if n % 2 == 0 else ""
        lines.append(f"{ref},{'holder' if n % 3 else 'dependant'},C{n % 7},2015-01-01,,{nir}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def exposure(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *args], capture_output=True, text=True, timeout=180, check=False
    )


def import_command(store: Path, roster: Path) -> list[str]:
    return [
        str(EXPOSURE),
        "--store",
        str(store),
        "members",
        "import",
        "--insurer",
        "mh",
        str(roster),
        "--known-on",
        "2024-01-01",
        "--batch-size",
        str(BATCH),
        "--json",
    ]


def read(store: Path, sql: str) -> int:
    """One number from the store, read-only (the import may hold the write lock)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # e.g. a view table not created yet
        return -1
    finally:
        db.close()


def facts_in_ledger(store: Path) -> int:
    return read(store, "SELECT COUNT(*) FROM stored_events WHERE topic = 'exposure:members-enrolled'")


def members_position(store: Path) -> int:
    return read(store, "SELECT COALESCE(MAX(position), 0) FROM projection_state WHERE name = 'members'")


def children(pid: int) -> int:
    """How many live processes have `pid` as parent (the check pass's worker processes)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended while we looked
                continue
            count += fields[1] == str(pid) and fields[0] != "Z"
    return count


def kill_when(
    store: Path, roster: Path, ready: Callable[[int], bool], during: Callable[[int], bool], delay: float
) -> bool:
    """Start the import, wait until `ready(pid)`, then up to `delay` seconds more while
    `during(pid)` holds, and SIGKILL it. Each look is taken with the import frozen (SIGSTOP), so
    what was seen is the state it dies in. True if it was killed while `during` held, or
    at the first look after `during` stopped holding (the phase's last moment)."""
    process = subprocess.Popen(
        import_command(store, roster), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not ready(process.pid):
        time.sleep(0.002)
    until, killed = time.monotonic() + delay, False
    while process.poll() is None and time.monotonic() < deadline:
        os.killpg(process.pid, signal.SIGSTOP)
        if not during(process.pid) or time.monotonic() >= until:
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
            break
        os.killpg(process.pid, signal.SIGCONT)
        time.sleep(0.002)
    assert process.wait(timeout=60) in (0, -signal.SIGKILL)
    return killed


@pytest.mark.slow
def test_an_import_killed_in_each_phase_completes_exactly_once_when_run_again(tmp_path):
    store, roster = tmp_path / "store" / "ledger.db", tmp_path / "roster.csv"
    write_roster(roster)
    assert exposure(store, "init").returncode == 0
    opened = exposure(
        store,
        "record",
        "attack-discovered",
        "--incident",
        INCIDENT,
        "--operator",
        "Viamedis",
        "--occurred-on",
        "2024-01-22",
        "--known-on",
        "2024-01-29",
    )
    affected = exposure(
        store,
        "record",
        "insurer-confirmed-affected",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--known-on",
        "2024-02-01",
    )
    assert opened.returncode == affected.returncode == 0, (opened.stderr, affected.stderr)
    seed = random.randrange(10**6)  # noqa: S311 - kill moments, printed on failure
    rng = random.Random(seed)  # noqa: S311
    before = facts_in_ledger(store)

    # Each kill is decided with the import frozen (SIGSTOP), so the phase seen is the phase it
    # dies in; the random part only moves the moment within a phase.
    # 1. during the check pass (its worker processes alive), or at the latest just after it,
    #    before the first append: nothing is appended before every row is checked
    checking = lambda pid: children(pid) > 0  # noqa: E731
    killed_checking = kill_when(store, roster, checking, checking, rng.random() * 0.3)
    appended_while_checking = facts_in_ledger(store) - before
    # 2. at the first look after the first append: some batches are in the ledger, not all
    appended_some = lambda _pid: facts_in_ledger(store) > before  # noqa: E731
    killed_appending = kill_when(store, roster, appended_some, appended_some, 0.0)
    appended_when_killed = facts_in_ledger(store) - before
    # 3. during the members catch-up: every fact appended, the projection not yet at the end
    last = read(store, "SELECT MAX(originator_version) FROM stored_events") + FACTS - appended_when_killed
    all_appended = lambda _pid: facts_in_ledger(store) == before + FACTS  # noqa: E731
    projecting = lambda _pid: members_position(store) < last  # noqa: E731
    killed_projecting = kill_when(store, roster, all_appended, projecting, rng.random() * 0.25)
    projected_when_killed = members_position(store)
    # 4. the same command again, to the end
    resumed = subprocess.run(import_command(store, roster), capture_output=True, text=True, timeout=180, check=False)
    again = subprocess.run(import_command(store, roster), capture_output=True, text=True, timeout=180, check=False)
    insurer = exposure(
        store, "insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-02", "--json"
    )

    context = f"seed {seed}"
    assert killed_checking, context
    assert killed_appending, context
    assert killed_projecting, context
    assert appended_while_checking == 0, context
    assert 0 < appended_when_killed < FACTS, context
    assert projected_when_killed < last, context
    assert resumed.returncode == 0, resumed.stderr
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)
    assert {k: counts[k] for k in ("insurer", "rows", "facts", "appended", "unchanged")} == {
        "insurer": "mh",
        "rows": ROWS,
        "facts": FACTS,
        "appended": 0,
        "unchanged": FACTS,
    }, context
    distinct_refs = len({f"m{n:06d}" for n in range(ROWS)} - {f"m{n:06d}" for n in range(999, ROWS, 1000)})
    assert json.loads(insurer.stdout)["members"]["memberships"] == distinct_refs, context
    assert facts_in_ledger(store) == FACTS, context
    assert (
        read(
            store,
            "SELECT COUNT(*) FROM (SELECT insurer, ref, pos FROM member_versions"
            " GROUP BY insurer, ref, pos HAVING COUNT(*) > 1)",
        )
        == 0
    ), context
    assert read(store, "SELECT COUNT(DISTINCT ref) FROM member_versions WHERE insurer = 'mh'") == distinct_refs, context
    assert read(store, "SELECT COUNT(*) FROM member_versions WHERE insurer = 'mh'") == ROWS - ROWS // 1000, context
