"""The lookup service on a PostgreSQL store: psycopg's async pool, tokens and access log in the same database."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psycopg
import pytest

from tests.support import INCIDENT, NIR_ALICE, NIR_CORSE, append
from tests.support.service import MALAKOFF, STORY, exposure, serving


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_service_answers_and_logs_on_postgresql(store_path: str, tmp_path: Path) -> None:
    asyncio.run(append(store_path, *STORY))

    with serving(store_path, "--nir-limit", "1000", logs=tmp_path) as server:
        token = server.token(MALAKOFF)
        with server.client(token) as http:
            answer = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}, {"nir": NIR_CORSE}]})
            refused = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}]}, headers={"authorization": ""})
        recorded = exposure(
            store_path, "record", "members-ruled-out", "--incident", INCIDENT, "--insurer", MALAKOFF, "--refs", "MH-1"
        )
        with server.client(token) as http:
            for _ in range(40):
                later = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}]}).json()
                assert "results" in later, later
                if later["results"][0]["memberships"][0]["incidents"][0]["status"] == "ruled-out":
                    break
                time.sleep(0.05)
    verified = exposure(store_path, "audit", "verify", "--json")

    alice, corse = answer.json()["results"]
    assert alice["memberships"][0]["ref"] == "MH-1"
    assert corse == {"memberships": []}
    assert refused.status_code == 401
    assert recorded.returncode == 0, recorded.stderr
    assert later["results"][0]["memberships"][0]["incidents"][0]["status"] == "ruled-out"
    assert verified.returncode == 0, verified.stderr
    with psycopg.connect(store_path) as conn:
        blocks = [json.loads(r[0]) for r in conn.execute("SELECT lookups FROM service_log ORDER BY first_seq")]
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM service_log")
    kinds = [kind for block in blocks for kind, _, _ in block]
    assert kinds[:2] == ["nir", "nir"]
    assert json.loads(verified.stdout)["access_log"]["rows"] == len(kinds)
