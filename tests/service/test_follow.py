"""The service follows the ledger (a fact recorded by the CLI is answered within a second)
and never writes a fact itself; hit and miss take comparable time."""

from __future__ import annotations

import statistics
import time

from tests.support import INCIDENT, NIR_ALICE, ledger_size, valid_nir
from tests.support.service import MALAKOFF, Server, exposure


def test_a_fact_recorded_by_the_cli_is_answered_within_a_second(service: Server) -> None:
    token = service.token(MALAKOFF)
    facts = ledger_size(service.store)

    recorded = exposure(
        service.store, "record", "members-ruled-out", "--incident", INCIDENT, "--insurer", MALAKOFF, "--refs", "MH-2"
    )
    started = time.monotonic()
    with service.client(token) as http:
        while True:
            answer = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-2"}]}).json()
            if answer["results"][0]["memberships"][0]["incidents"][0]["status"] == "ruled-out":
                break
            assert time.monotonic() - started < 1.0, "not visible within a second"
            time.sleep(0.02)
        health = http.get("/v1/health").json()

    assert recorded.returncode == 0, recorded.stderr
    assert health["position"] == facts + 1
    assert health["lag"] == 0
    assert ledger_size(service.store) == facts + 1  # the CLI's fact only: the service wrote none


def test_a_hit_and_a_miss_take_comparable_time(service: Server) -> None:
    token = service.token(MALAKOFF)
    nobody = valid_nir("1850575123456")
    timings: dict[str, list[float]] = {"hit": [], "miss": []}

    with service.client(token) as http:
        for _ in range(20):  # warm up connections and caches
            http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}]})
        for _ in range(300):
            for name, nir in (("hit", NIR_ALICE), ("miss", nobody)):
                started = time.perf_counter()
                response = http.post("/v1/lookups", json={"lookups": [{"nir": nir}]})
                timings[name].append(time.perf_counter() - started)
                assert response.status_code == 200

    hit, miss = statistics.median(timings["hit"]), statistics.median(timings["miss"])
    # Same path, same queries: the medians differ by far less than the spread of either.
    spread = statistics.quantiles(timings["miss"], n=4)
    assert abs(hit - miss) < max(0.0005, 0.25 * miss, spread[2] - spread[0]), (hit, miss)
