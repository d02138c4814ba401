"""`exposure serve --workers 2`: the rate limits and the access log hold across worker processes.

Each request goes over a new connection, so the kernel hands them to either worker; the
limits are those of one service whichever worker answers (`service.limits.Shared`), and the
access log stays one chain with a row per lookup answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service import limits
from tests.support import NIR_BRUNO
from tests.support.service import MALAKOFF, Server, exposure, make_store, serving


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = make_store(tmp_path_factory.mktemp("workers"))
    with serving(store, "--workers", "2", "--nir-limit", "10") as server:
        yield server


def new_token(server: Server, insurer: str, **options: str) -> str:
    """A new token, once every worker has read it (each reloads the tokens twice a second)."""
    made = server.token(insurer, **options)
    time.sleep(1.0)
    return made


def ask(server: Server, token: str, lookups: list[dict[str, str]]) -> httpx.Response:
    """One request over a new connection (any worker may take it)."""
    with server.client(token) as http:
        return http.post("/v1/lookups", json={"lookups": lookups})


def workers_of(server: Server) -> set[int]:
    """The pids of the worker processes of `server` (children of its supervisor)."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return {int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def test_two_workers_serve_and_answer_alike(two_workers: Server) -> None:
    token = new_token(two_workers, MALAKOFF)

    answers = {json.dumps(ask(two_workers, token, [{"ref": "MH-2"}]).json()["results"]) for _ in range(20)}

    assert len(workers_of(two_workers)) == 2
    assert len(answers) == 1


def test_the_per_nir_limit_holds_across_workers_and_tokens(two_workers: Server) -> None:
    tokens = [new_token(two_workers, MALAKOFF, name=f"probe-{n}") for n in range(3)]

    codes = [ask(two_workers, tokens[n % 3], [{"nir": NIR_BRUNO}]).status_code for n in range(24)]

    assert codes.count(200) == 10  # one service's limit, not one per worker
    assert set(codes[10:]) == {429}


def test_a_token_bucket_holds_across_workers(two_workers: Server) -> None:
    token = new_token(two_workers, MALAKOFF, rate="6/min")  # holds one second's worth: one lookup, then 1 per 10 s

    started = time.monotonic()
    codes = [ask(two_workers, token, [{"ref": "MH-1"}]).status_code for _ in range(12)]
    elapsed = time.monotonic() - started

    assert codes.count(200) <= 1 + int(elapsed / 10)
    assert codes[0] == 200
    assert 429 in codes


def test_the_access_log_is_one_chain_with_a_row_per_lookup_answered(two_workers: Server) -> None:
    token = new_token(two_workers, MALAKOFF, name="logged")
    fingerprint = two_workers.tokens[token]["fingerprint"]

    answered = sum(ask(two_workers, token, [{"ref": "MH-1"}, {"ref": "MH-2"}]).status_code == 200 for _ in range(30))
    log = exposure(two_workers.store, "service", "log", "--token", fingerprint, "--json")
    verified = exposure(two_workers.store, "audit", "verify")

    assert answered == 30
    assert log.returncode == 0, log.stderr
    rows = [json.loads(line) for line in log.stdout.splitlines()]
    assert len(rows) == 60
    assert verified.returncode == 0, verified.stderr


def test_the_shared_limits_count_for_every_process_that_maps_them(tmp_path: Path) -> None:
    path = tmp_path / "limits"
    limits.Shared.create(path)
    first, second = limits.Shared.at(path, 2, 60.0), limits.Shared.at(path, 2, 60.0)
    pseudonym = "ab" * 16
    try:
        waits = [
            process.admit("f00dfeed0001", 100.0, 100.0, 1, [pseudonym], 1000.0 + n)
            for n, process in enumerate([first, second, first, second])
        ]
        bucket = [
            first.admit("f00dfeed0002", 1.0, 2.0, 2, [], 2000.0),
            second.admit("f00dfeed0002", 1.0, 2.0, 1, [], 2000.0),
        ]
    finally:
        first.close()
        second.close()

    assert waits[:2] == [0.0, 0.0]
    assert waits[2] > 0
    assert waits[3] > 0
    assert bucket[0] == 0.0
    assert bucket[1] == pytest.approx(1.0)
