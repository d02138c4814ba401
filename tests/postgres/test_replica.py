"""Reads from a real streaming hot standby (`--read-store`), writes to the real primary.

A primary and a standby made with `pg_basebackup -R` run on local sockets; the standby's
WAL replay is paused (`pg_wal_replay_pause`) to make it fall behind on purpose.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import EXPOSURE
from tests.support.postgres_server import Cluster, running_cluster
from tests.support.service import serving

pytestmark = pytest.mark.slow

STORY = Path(__file__).parent.parent.parent / "cli" / "demo_story.jsonl"
INCIDENT = "viamedis-2024-01"
ROSTER = "ref,role,contract,nir\nMH-1,holder,A,2 95 10 99 126 111 93\nMH-2,dependant,A,\nMH-3,holder,B,\n"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as found:
        yield found


@pytest.fixture
def ledger(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A fresh store on the primary (its own database), the standby's URL for it, and a work folder."""
    name = f"r{time.monotonic_ns()}"
    with psycopg.connect(cluster.url("primary"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    primary, standby = cluster.url("primary", name), cluster.url("standby", name)
    exposure(tmp_path, primary, "init", "--timezone", "Europe/Paris")
    _wait_until_replayed(cluster, name)
    yield primary, standby, tmp_path
    _resume(standby)
    with psycopg.connect(cluster.url("primary"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def exposure(
    folder: Path, store: str, *args: str, read_store: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real `exposure` command in `folder` (where the key file lives)."""
    options = ["--store", store] + (["--read-store", read_store] if read_store else [])
    done = subprocess.run(
        [str(EXPOSURE), *options, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _wait_until_replayed(cluster: Cluster, database: str) -> None:
    """Until the standby has replayed everything the primary has written (its database exists)."""
    with psycopg.connect(cluster.url("primary"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(cluster.url("standby"), autocommit=True) as conn:
            done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::text::pg_lsn", (target,)).fetchone()
        if done and done[0]:
            return
        time.sleep(0.05)
    pytest.fail(f"the standby did not replay database {database} in 30 s")


def _pause(standby: str) -> None:
    with psycopg.connect(standby, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")


def _resume(standby: str) -> None:
    with psycopg.connect(standby, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def _load_story(folder: Path, primary: str) -> None:
    (folder / "roster.csv").write_text(ROSTER)
    exposure(folder, primary, "import", str(STORY))
    exposure(
        folder, primary, "members", "import", "--insurer", "malakoff-humanis", "roster.csv", "--known-on", "2024-01-01"
    )


QUESTIONS = (
    ("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07"),
    ("summary", "--incident", INCIDENT, "--as-known-on", "2024-03-01"),
    ("insurer", "--incident", INCIDENT, "--insurer", "malakoff-humanis", "--as-known-on", "2024-02-08"),
    ("member", "--insurer", "malakoff-humanis", "--ref", "MH-2", "--as-known-on", "2024-03-01"),
    ("member", "--nir", "2 95 10 99 126 111 93", "--as-known-on", "2024-03-01"),
    ("timeline", "--incident", INCIDENT, "--as-known-on", "2024-03-01"),
    ("obligations", "--incident", INCIDENT, "--as-known-on", "2024-03-01"),
    ("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--to", "2024-02-08"),
)


def test_answers_from_the_replica_equal_answers_from_the_primary(ledger: tuple[str, str, Path]) -> None:
    primary, standby, folder = ledger
    _load_story(folder, primary)

    for question in QUESTIONS:
        from_primary = exposure(folder, primary, *question, "--json").stdout
        from_replica = exposure(folder, primary, *question, "--json", read_store=standby).stdout

        assert json.loads(from_replica) == json.loads(from_primary), question


SUMMARY = ("summary", "--incident", INCIDENT, "--json")


def test_a_reader_waits_for_the_replica_to_replay_its_own_fact(ledger: tuple[str, str, Path]) -> None:
    primary, standby, folder = ledger
    _load_story(folder, primary)
    _pause(standby)
    exposure(
        folder, primary, "record", "insurer-ruled-out", "--incident", INCIDENT, "--insurer", "malakoff-humanis",
        "--known-on", "2024-02-20", "--id", "late-ruling",
    )  # fmt: skip

    reader = subprocess.Popen(
        [str(EXPOSURE), "--store", primary, "--read-store", standby, "--max-lag", "30", *SUMMARY],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    still_waiting = reader.poll() is None
    _resume(standby)
    stdout, stderr = reader.communicate(timeout=60)

    assert still_waiting, "the read answered from a replica that had not replayed the writer's fact"
    assert reader.returncode == 0, stderr
    assert "malakoff-humanis" in json.loads(stdout)["insurers"]["ruled_out"]


def test_a_replica_that_falls_behind_gives_an_error_not_a_stale_answer(ledger: tuple[str, str, Path]) -> None:
    primary, standby, folder = ledger
    _load_story(folder, primary)
    _pause(standby)
    exposure(
        folder, primary, "record", "insurer-ruled-out", "--incident", INCIDENT, "--insurer", "malakoff-humanis",
        "--known-on", "2024-02-20",
    )  # fmt: skip

    done = exposure(
        folder,
        primary,
        "--max-lag",
        "0.5",
        "summary",
        "--incident",
        INCIDENT,
        "--json",
        read_store=standby,
        check=False,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error: read store ")
    assert "is behind the primary after 0.5 s (--max-lag)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_stopped_replica_gives_a_clear_error(cluster: Cluster, ledger: tuple[str, str, Path]) -> None:
    primary, standby, folder = ledger
    _load_story(folder, primary)
    cluster.stop("standby")
    try:
        done = exposure(folder, primary, "summary", "--incident", INCIDENT, read_store=standby, check=False)
    finally:
        cluster.start("standby")

    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot connect to read store postgresql://exposure@")
    assert len(done.stderr.splitlines()) == 1


def test_a_read_store_that_is_not_a_replica_of_the_store_is_refused(
    cluster: Cluster, ledger: tuple[str, str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    primary, _, folder = ledger
    other_folder = tmp_path_factory.mktemp("other")
    name = f"o{time.monotonic_ns()}"
    with psycopg.connect(cluster.url("primary"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    exposure(other_folder, cluster.url("primary", name), "init")

    done = exposure(
        folder, primary, "summary", "--incident", INCIDENT, read_store=cluster.url("primary", name), check=False
    )

    assert done.returncode == 1
    assert "is not a replica of store" in done.stderr


def test_a_read_store_needs_a_postgresql_store(tmp_path: Path, cluster: Cluster) -> None:
    store = str(tmp_path / "ledger.db")
    exposure(tmp_path, store, "init")

    done = exposure(tmp_path, store, "summary", "--incident", INCIDENT, read_store=cluster.url("standby"), check=False)

    assert done.returncode == 1
    assert done.stderr == "Error: --read-store needs a PostgreSQL store (--store postgresql://...)\n"


def _status_of_mh2(client: httpx.Client) -> str:
    response = client.post("/v1/lookups", json={"lookups": [{"ref": "MH-2"}], "as_known_on": "2024-03-01"})
    assert response.status_code == 200, response.text
    (membership,) = response.json()["results"][0]["memberships"]
    statuses = {i["incident"]: i["status"] for i in membership["incidents"]}
    return str(statuses[INCIDENT])


def test_the_lookup_service_reads_from_the_replica_and_says_when_it_falls_behind(
    ledger: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, standby, folder = ledger
    _load_story(folder, primary)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("EXPOSURE_READ_STORE", standby)
    monkeypatch.setenv("EXPOSURE_MAX_LAG", "1")
    with serving(primary, logs=folder) as server:
        token = server.token("malakoff-humanis")
        with server.client(token) as client:
            before = _status_of_mh2(client)
            _pause(standby)
            exposure(
                folder, primary, "record", "members-ruled-out", "--incident", INCIDENT,
                "--insurer", "malakoff-humanis", "--refs", "MH-2", "--known-on", "2024-02-20",
            )  # fmt: skip
            time.sleep(3)
            behind = client.get("/v1/health").json()
            while_paused = _status_of_mh2(client)
            _resume(standby)
            deadline = time.monotonic() + 20
            after = _status_of_mh2(client)
            while after != "ruled-out" and time.monotonic() < deadline:
                time.sleep(0.2)
                after = _status_of_mh2(client)
            caught_up = client.get("/v1/health").json()

    assert before == "presumed"
    assert while_paused == "presumed"  # the replica had not replayed the fact: the service says so
    assert behind["status"] == "failing"
    assert after == "ruled-out"
    assert caught_up["status"] == "ok"
