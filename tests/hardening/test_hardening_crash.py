"""`kill -9` at random points of `import`, `record` and a projection catch-up: the store
stays consistent (an import file is in the log entirely or not at all), and running the
same command again completes it exactly once, with the answers of a rebuild.

(`members import` interrupted by `kill -9` is covered in tests/test_roster_resume.py.)
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from projections import projector, queries
from tests.support import EXPOSURE, INCIDENT, opened, opening, valid_nir

pytestmark = pytest.mark.slow

SEED = 20240129
IMPORTED = 800
ROSTERS = 20
MEMBERS_EACH = 1_000


# -- helpers ------------------------------------------------------------------------------


def exposure(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *args], capture_output=True, text=True, check=False, timeout=120
    )


def killed_after(delay: float, store: Path, *args: str) -> bool:
    """Start `exposure ARGS`, SIGKILL it after `delay` seconds; True when it was still running."""
    process = subprocess.Popen(
        [str(EXPOSURE), "--store", str(store), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return running


def logged_ids(store: Path) -> list[str]:
    """The ids in the fact log, in append order (read through the ledger itself)."""

    async def read() -> list[str]:
        async with opened(store) as opened_store:
            return [recorded.fact.id for recorded in opened_store.facts()]

    return asyncio.run(read())


def audit_logged_ids(store: Path) -> list[str]:
    """The ids `exposure audit log --json` shows, in append order."""
    done = exposure(store, "audit", "log", "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


def copy_store(source: Path, folder: Path) -> Path:
    """A byte copy of a closed store and its key file in `folder`."""
    folder.mkdir(parents=True)
    for file in source.parent.iterdir():
        shutil.copy2(file, folder / file.name)
    return folder / source.name


def big_import(folder: Path) -> tuple[Path, list[str]]:
    """A JSON Lines file of `IMPORTED` facts with ids: insurers informed, rulings, fields."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not a secret
    facts: list[dict[str, Any]] = []
    for n in range(IMPORTED):
        insurer = f"insurer-{n % 12}"
        kind = rng.choice(["insurer-informed", "insurer-confirmed-affected", "field-ruled-in", "field-suspected"])
        item: dict[str, Any] = {
            "kind": kind,
            "id": f"big-{n}",
            "incident": INCIDENT,
            "insurer": insurer,
            "known_on": f"2024-02-{1 + n % 9:02d}",
            "source": "communiqué " * rng.randint(1, 20),
        }
        if kind.startswith("field-"):
            item["categories"] = rng.sample(["nir", "birth_date", "civil_status", "health", "phone"], 2)
        facts.append(item)
    for n in range(12):  # every insurer is named before the file's first fact about it
        facts.insert(
            n,
            {
                "kind": "insurer-informed",
                "id": f"name-{n}",
                "incident": INCIDENT,
                "insurer": f"insurer-{n}",
                "known_on": "2024-02-01",
            },
        )
    file = folder / "big.jsonl"
    file.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in facts), encoding="utf-8")
    return file, [f["id"] for f in facts]


def rosters(folder: Path) -> Path:
    """`ROSTERS` members-enrolled facts; NIRs repeat across insurers (the same people)."""
    lines = []
    for n in range(ROSTERS):
        insurer = f"insurer-{n % 4}"
        members = [
            {
                "ref": f"{insurer}-{n}-{k}",
                "role": "holder" if k % 3 else "dependant",
                "nir": valid_nir(f"2{90 + n % 3:02d}0175{k:06d}"),
            }
            for k in range(MEMBERS_EACH)
        ]
        lines.append(
            json.dumps(
                {
                    "kind": "members-enrolled",
                    "id": f"roster-{n}",
                    "insurer": insurer,
                    "known_on": "2024-01-05",
                    "members": members,
                }
            )
        )
    findings = [
        {
            "kind": "insurer-confirmed-affected",
            "id": f"affected-{n}",
            "incident": INCIDENT,
            "insurer": f"insurer-{n}",
            "known_on": "2024-02-02",
        }
        for n in range(3)
    ] + [
        {
            "kind": "scope-defined",
            "id": "scope-0",
            "incident": INCIDENT,
            "insurer": "insurer-0",
            "roles": ["holder"],
            "known_on": "2024-02-03",
        },
        {
            "kind": "members-confirmed-affected",
            "id": "found-3",
            "incident": INCIDENT,
            "insurer": "insurer-3",
            "refs": ["insurer-3-3-0", "insurer-3-3-1"],
            "known_on": "2024-02-04",
        },
        {
            "kind": "field-ruled-in",
            "id": "fields",
            "incident": INCIDENT,
            "categories": ["nir"],
            "known_on": "2024-02-02",
        },
    ]
    file = folder / "rosters.jsonl"
    file.write_text("\n".join(lines + [json.dumps(f) for f in findings]) + "\n", encoding="utf-8")
    return file


async def answers(store: Path) -> dict[str, Any]:
    """Summary and every insurer's answer at fixed horizons (never the wall clock)."""
    found: dict[str, Any] = {}
    async with opened(store) as opened_store:
        for x in ("2024-01-31", "2024-02-02", "2024-12-31"):
            h = await opened_store.horizon(x)
            found[f"summary {x}"] = msgspec.to_builtins(await queries.summary(opened_store.db, INCIDENT, h))
            for insurer in await queries.known_insurers(opened_store.db, h):
                found[f"{insurer} {x}"] = msgspec.to_builtins(
                    await queries.insurer(opened_store.db, INCIDENT, insurer, h)
                )
    return found


async def rebuilt_answers(store: Path) -> dict[str, Any]:
    async with opened(store) as opened_store:
        await opened_store.rebuild()
    return await answers(store)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store holding the incident's opening fact."""
    path = tmp_path_factory.mktemp("seeded") / "store" / "ledger.db"
    assert exposure(path, "init", "--timezone", "Europe/Paris").returncode == 0
    opener = path.parent.parent / "open.jsonl"
    opener.write_text(json.dumps(opening()) + "\n", encoding="utf-8")
    assert exposure(path, "import", str(opener)).returncode == 0
    return path


# -- tests ---------------------------------------------------------------------------------


def kill_points(duration: float, rounds: int) -> list[float]:
    """One random instant in each of `rounds` equal slices of (15%, 100%) of `duration`:
    random, yet spread over the whole run (start-up, parsing, the append, the catch-up)."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible kill points, not a secret
    width = 0.85 / rounds
    return [duration * (0.15 + width * (n + rng.random())) for n in range(rounds)]


def test_an_import_killed_at_random_points_is_all_or_nothing_and_a_rerun_completes_it_once(seeded, tmp_path):
    file, ids = big_import(tmp_path)
    whole = copy_store(seeded, tmp_path / "whole")
    started = time.monotonic()
    assert exposure(whole, "import", str(file)).returncode == 0
    duration = time.monotonic() - started
    expected = [f"open-{INCIDENT}", *ids]
    truth = asyncio.run(answers(whole))

    outcomes = []
    for round_number, delay in enumerate(kill_points(duration, 4)):
        store = copy_store(seeded, tmp_path / f"round-{round_number}")
        was_running = killed_after(delay, store, "import", str(file))
        after_kill = logged_ids(store)
        outcomes.append((round(delay, 2), was_running, len(after_kill)))
        rerun = exposure(store, "import", str(file), "--json")

        assert after_kill in ([f"open-{INCIDENT}"], expected), outcomes
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["appended"] == len(expected) - len(after_kill)
        assert asyncio.run(answers(store)) == truth
    again = json.loads(exposure(store, "import", str(file), "--json").stdout)
    assert (again["appended"], again["unchanged"]) == (0, len(ids))
    assert audit_logged_ids(store) == expected
    assert any(running for _, running, _ in outcomes), outcomes


def test_a_record_killed_at_random_points_is_recorded_once_after_a_rerun(seeded, tmp_path):
    store = copy_store(seeded, tmp_path / "store")
    started = time.monotonic()
    assert (
        exposure(
            store,
            "record",
            "field-suspected",
            "--incident",
            INCIDENT,
            "--categories",
            "phone",
            "--id",
            "timed",
            "--known-on",
            "2024-02-01",
        ).returncode
        == 0
    )
    duration = time.monotonic() - started
    args = ("record", "field-ruled-in", "--incident", INCIDENT, "--categories", "nir", "--known-on", "2024-02-01")
    before = [f"open-{INCIDENT}", "timed"]

    for n, delay in enumerate(kill_points(duration, 3)):
        killed_after(delay, store, *args, "--id", f"field-{n}")
        seen = logged_ids(store)
        rerun = exposure(store, *args, "--id", f"field-{n}")

        assert seen in ([*before, *(f"field-{k}" for k in range(n))], [*before, *(f"field-{k}" for k in range(n + 1))])
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stdout.strip() == f"field-{n}"
    assert audit_logged_ids(store) == [*before, *(f"field-{k}" for k in range(3))]


def test_a_projection_catch_up_killed_at_random_points_resumes_to_the_answers_of_a_rebuild(seeded, tmp_path):
    # Arrange: 20,000 members in 20 rosters (a bulk catch-up) appended, then the projections
    # dropped, so the next query must project everything again.
    base = copy_store(seeded, tmp_path / "base")
    assert exposure(base, "import", str(rosters(tmp_path))).returncode == 0
    truth = asyncio.run(answers(base))

    async def drop_projections(store: Path) -> None:
        async with opened(store) as opened_store:
            await projector.drop_tables(opened_store.db)

    asyncio.run(drop_projections(base))
    timed = copy_store(base, tmp_path / "timed")
    started = time.monotonic()
    assert exposure(timed, "summary", "--incident", INCIDENT).returncode == 0
    duration = time.monotonic() - started

    for round_number, delay in enumerate(kill_points(duration, 3)):
        store = copy_store(base, tmp_path / f"round-{round_number}")
        # Act: kill the query mid catch-up, then ask again.
        killed_after(delay, store, "summary", "--incident", INCIDENT)
        resumed = exposure(store, "summary", "--incident", INCIDENT, "--as-known-on", "2024-12-31", "--json")

        # Assert
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout) == truth["summary 2024-12-31"]
        assert asyncio.run(answers(store)) == truth
    assert truth["summary 2024-12-31"]["members"]["people"] < truth["summary 2024-12-31"]["members"]["affected"]
