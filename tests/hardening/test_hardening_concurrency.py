"""Several processes write to one SQLite store at once: nobody sees "database is locked"
or a conflict, no fact is lost, positions stay dense, `recorded_at` strictly increases,
and the projections built under contention answer exactly like a rebuild from the facts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from projections import queries
from tests.support import EXPOSURE, INCIDENT, append, opened, opening, valid_nir

pytestmark = pytest.mark.slow

WRITERS = 6
FACTS_EACH = 50
HORIZONS = ("2024-01-31", "2024-02-03", "2024-12-31")


# -- what each writer records -----------------------------------------------------------


def writer_facts(writer: int, count: int = FACTS_EACH) -> list[dict[str, Any]]:
    """`count` facts about the writer's own insurer: rosters whose NIRs are shared with the
    other writers (the same people at several insurers), rulings, findings, scopes, fields."""
    insurer = f"insurer-{writer}"
    facts: list[dict[str, Any]] = [
        {
            "kind": "insurer-informed",
            "id": f"w{writer}-0",
            "incident": INCIDENT,
            "insurer": insurer,
            "known_on": "2024-02-01",
        },
    ]
    for n in range(1, count):
        common = {"id": f"w{writer}-{n}", "incident": INCIDENT, "insurer": insurer}
        match n % 6:
            case 1:
                facts.append(
                    {
                        "kind": "members-enrolled",
                        "id": common["id"],
                        "insurer": insurer,
                        "known_on": "2024-01-05",
                        "members": [
                            {
                                "ref": f"{insurer}-{n}-{k}",
                                "role": "holder" if k else "dependant",
                                "nir": valid_nir(f"18401750{n:03d}{k:02d}"),
                            }
                            for k in range(3)
                        ],
                    }
                )
            case 2:
                facts.append({**common, "kind": "insurer-confirmed-affected", "known_on": f"2024-02-0{1 + writer % 3}"})
            case 3:
                facts.append(
                    {**common, "kind": "members-ruled-out", "refs": [f"{insurer}-{n - 2}-0"], "known_on": "2024-02-03"}
                )
            case 4:
                facts.append(
                    {**common, "kind": "field-ruled-in", "categories": ["nir", "birth_date"], "known_on": "2024-02-02"}
                )
            case 5:
                facts.append({**common, "kind": "scope-defined", "roles": ["holder"], "known_on": "2024-02-03"})
            case _:
                facts.append({**common, "kind": "field-suspected", "categories": ["health"], "known_on": "2024-02-01"})
    return facts


def expected_ids(writers: int) -> set[str]:
    return {f"open-{INCIDENT}"} | {f["id"] for w in range(writers) for f in writer_facts(w)}


def append_one_at_a_time(path: str, writer: int, start: Any, results: Any) -> None:
    """A writer process: one `Store.append` per fact, a summary query every ten facts."""

    async def go() -> list[str]:
        problems: list[str] = []
        async with opened(Path(path)) as store:
            start.wait()
            for n, item in enumerate(writer_facts(writer)):
                try:
                    await store.append([(f"fact {n}", item)])
                    if n % 10 == 0:
                        msgspec.to_builtins(await queries.summary(store.db, INCIDENT, await store.horizon()))
                except Exception as problem:  # noqa: BLE001 - reported to the parent, which fails the test
                    problems.append(f"fact {n}: {problem!r}")
        return problems

    results.put((writer, asyncio.run(go())))


# -- checks -------------------------------------------------------------------------------


def audit_log(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(EXPOSURE), "--store", str(path), "audit", "log", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def answers(path: Path) -> dict[str, Any]:
    """Summaries, insurers and every member's answer at a few fixed horizons."""
    found: dict[str, Any] = {}
    async with opened(path) as store:
        for x in HORIZONS:
            h = await store.horizon(x)
            found[f"summary {x}"] = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
            for insurer in await queries.known_insurers(store.db, h):
                found[f"insurer {insurer} {x}"] = msgspec.to_builtins(
                    await queries.insurer(store.db, INCIDENT, insurer, h)
                )
            async with store.db.execute("SELECT DISTINCT insurer, ref FROM member_versions ORDER BY 1, 2") as c:
                members = [(str(a), str(b)) for a, b in await c.fetchall()]
            for insurer, ref in members:
                found[f"member {insurer} {ref} {x}"] = msgspec.to_builtins(
                    await queries.member(store.db, h, insurer_id=insurer, ref=ref)
                )
    return found


async def rebuilt_answers(path: Path) -> dict[str, Any]:
    async with opened(path) as store:
        await store.rebuild()
    return await answers(path)


def assert_consistent_log(log: list[dict[str, Any]], ids: set[str]) -> None:
    assert [entry["position"] for entry in log] == list(range(1, len(log) + 1))
    assert sorted(entry["id"] for entry in log) == sorted(ids)
    stamps = [instant(entry["recorded_at"]) for entry in log]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))


# -- tests ---------------------------------------------------------------------------------


async def test_six_processes_appending_fact_by_fact_lose_nothing_and_never_see_a_lock(store_path):
    await append(store_path, opening())
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(WRITERS), spawn.Queue()
    writers = [
        spawn.Process(target=append_one_at_a_time, args=(str(store_path), w, start, results)) for w in range(WRITERS)
    ]

    for process in writers:
        process.start()
    reports = dict(results.get(timeout=240) for _ in writers)
    for process in writers:
        process.join(timeout=60)

    assert [p.exitcode for p in writers] == [0] * WRITERS
    assert reports == {w: [] for w in range(WRITERS)}
    log = audit_log(store_path)
    assert len(log) == 1 + WRITERS * FACTS_EACH
    assert_consistent_log(log, expected_ids(WRITERS))
    incremental = await answers(store_path)
    counts = incremental["summary 2024-12-31"]["members"]
    assert counts["people"] < counts["affected"]
    assert incremental == await rebuilt_answers(store_path)


def test_concurrent_import_and_record_commands_all_exit_zero(store_path, tmp_path):
    # Arrange: four importers, each 2 files of 25 facts; two recorders, each 3 `record`s.
    asyncio.run(append(store_path, opening()))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    scripts = []
    for w in range(4):
        facts = writer_facts(w)
        files = []
        for part in range(2):
            file = inputs / f"w{w}-{part}.jsonl"
            file.write_text("".join(json.dumps(f) + "\n" for f in facts[part * 25 : (part + 1) * 25]), encoding="utf-8")
            files.append(f"'{file}'")
        scripts.append(
            f"for f in {' '.join(files)}; do '{EXPOSURE}' --store '{store_path}' import \"$f\"; echo \"exit $?\"; done"
        )
    recorded = {f"r{w}-{n}" for w in range(2) for n in range(3)}
    for w in range(2):
        scripts.append(
            f"for n in 0 1 2; do '{EXPOSURE}' --store '{store_path}' record field-suspected --id r{w}-$n"
            f' --incident {INCIDENT} --categories phone --known-on 2024-02-0$((n + 1)); echo "exit $?"; done'
        )

    # Act
    shells = [
        subprocess.Popen(
            ["sh", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "EXPOSURE_ACTOR": f"shell-{n}"},
        )
        for n, script in enumerate(scripts)
    ]
    outputs = [shell.communicate(timeout=240) for shell in shells]

    # Assert
    exits = [line for out, _ in outputs for line in out.splitlines() if line.startswith("exit ")]
    assert exits == ["exit 0"] * (4 * 2 + 2 * 3)
    assert [err for _, err in outputs] == [""] * len(scripts)
    log = audit_log(store_path)
    assert len(log) == 1 + 4 * FACTS_EACH + 6
    assert_consistent_log(log, expected_ids(4) | recorded)
    assert asyncio.run(answers(store_path)) == asyncio.run(rebuilt_answers(store_path))
