"""401 and 429 over real HTTP: tokens, revocation, the token bucket and the per-NIR limit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support import INCIDENT, NIR_ALICE, NIR_BRUNO
from tests.support.service import MALAKOFF, Server, exposure, make_store, serving


def test_requests_without_a_valid_token_are_refused_with_401(service: Server) -> None:
    token = service.token(MALAKOFF)
    asks = {
        "no header": {},
        "unknown token": {"authorization": "Bearer exp_" + "A" * 43},
        "another scheme": {"authorization": f"Basic {token}"},
        "token without scheme": {"authorization": token},
        "a token's hash": {"authorization": f"Bearer {service.tokens[token]['fingerprint']}"},
    }

    with httpx.Client(base_url=service.url) as http:
        refused = {
            name: http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}]}, headers=h)
            for name, h in asks.items()
        }
        summary = http.get(f"/v1/incidents/{INCIDENT}/summary")

    for name, response in [*refused.items(), ("summary", summary)]:
        assert response.status_code == 401, name
        assert response.json() == {"error": "a valid bearer token is required"}, name
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused_within_a_second(service: Server) -> None:
    token = service.token(MALAKOFF)
    fingerprint = service.tokens[token]["fingerprint"]
    with service.client(token) as http:
        assert http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]}).status_code == 200

        revoked = exposure(service.store, "service", "token", "revoke", fingerprint)
        started = time.monotonic()
        while http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]}).status_code == 200:
            assert time.monotonic() - started < 1.0
            time.sleep(0.05)

    assert revoked.returncode == 0
    assert fingerprint in revoked.stdout


def test_past_the_rate_the_service_answers_429_with_retry_after(service: Server) -> None:
    token = service.token(MALAKOFF, rate="3/min")

    with service.client(token) as http:
        allowed = [http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]}) for _ in range(1)]
        limited = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})
        too_many = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}] * 2})

    assert [r.status_code for r in allowed] == [200]
    assert limited.status_code == 429
    assert limited.json() == {"error": "rate limit exceeded"}
    assert 1 <= int(limited.headers["retry-after"]) <= 20  # a lookup every 20 s
    assert too_many.status_code == 400  # more than one request may ever carry at this rate


def test_the_bucket_refills_at_the_tokens_rate(service: Server) -> None:
    token = service.token(MALAKOFF, rate="5/s")

    with service.client(token) as http:
        first = [http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]}).status_code for _ in range(8)]
        time.sleep(1.1)
        later = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}] * 5})

    assert first.count(200) >= 5
    assert 429 in first
    assert later.status_code == 200


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("strict"))


def test_one_nir_cannot_be_probed_by_many_tokens(strict: Path) -> None:
    with serving(strict, "--nir-limit", "3") as server:
        tokens = [server.token(MALAKOFF, name=f"client {n}") for n in range(4)]
        codes = []
        for token in tokens:
            with server.client(token) as http:
                codes.append(http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}]}).status_code)
        with server.client(tokens[0]) as http:
            other = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_BRUNO}]})
            limited = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}, {"nir": NIR_BRUNO}]})

    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200  # another person is not blocked
    assert limited.status_code == 429  # one limited NIR refuses the whole batch: nothing is answered
    assert int(limited.headers["retry-after"]) >= 1
