"""POST /v1/lookups over real HTTP: answers, scoping across insurers, validation."""

from __future__ import annotations

import json

from tests.support import INCIDENT, NIR_ALICE, NIR_BRUNO, NIR_CORSE, spaced, valid_nir
from tests.support.service import ALAN, MALAKOFF, Server, body, exposure

NOBODY = valid_nir("1850575123456")


def test_a_lookup_by_nir_answers_the_membership_with_its_fields_and_notice(service: Server) -> None:
    token = service.token(MALAKOFF)

    with service.client(token) as http:
        response = http.post("/v1/lookups", json={"lookups": [{"nir": spaced(NIR_ALICE)}]})

    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result == {
        "memberships": [
            {
                "insurer": MALAKOFF,
                "ref": "MH-1",
                "role": "holder",
                "incidents": [
                    {
                        "incident": INCIDENT,
                        "status": "presumed",
                        "fields": ["birth_date", "civil_status", "nir"],
                        "implied": ["birth_month", "birth_year", "birthplace", "sex"],
                        "notified_at": "2024-02-05T09:00:00Z",
                    }
                ],
            }
        ]
    }


def test_answers_come_in_request_order_with_invalid_nirs_answered_per_item(service: Server) -> None:
    token = service.token(MALAKOFF)
    wrong_key = NIR_BRUNO[:13] + f"{(int(NIR_BRUNO[13:]) % 97) + 1:02d}"

    with service.client(token) as http:
        response = http.post(
            "/v1/lookups",
            json={"lookups": [{"ref": "MH-2"}, {"nir": wrong_key}, {"nir": "12"}, {"nir": NIR_ALICE}, {"ref": "?"}]},
        )

    results = response.json()["results"]
    assert [r.get("error") for r in results] == [None, "invalid NIR", "invalid NIR", None, None]
    assert results[0]["memberships"][0]["ref"] == "MH-2"
    assert results[3]["memberships"][0]["ref"] == "MH-1"
    assert results[4] == {"memberships": []}
    assert NIR_BRUNO[13:] not in json.dumps(results[1])  # the valid key is never revealed


def test_a_nir_enrolled_at_another_insurer_answers_exactly_as_a_nir_enrolled_nowhere(service: Server) -> None:
    token = service.token(MALAKOFF)

    with service.client(token) as http:
        elsewhere = http.post("/v1/lookups", json={"lookups": [{"nir": NIR_CORSE}]})
        nowhere = http.post("/v1/lookups", json={"lookups": [{"nir": NOBODY}]})
        by_ref = http.post("/v1/lookups", json={"lookups": [{"ref": "AL-1", "insurer": ALAN}]})
        no_ref = http.post("/v1/lookups", json={"lookups": [{"ref": "XX-9", "insurer": ALAN}]})

    assert elsewhere.status_code == nowhere.status_code == 200
    assert body(elsewhere) == body(nowhere) == {"results": [{"memberships": []}]}
    assert elsewhere.headers["content-length"] == nowhere.headers["content-length"]
    assert body(by_ref) == body(no_ref) == {"results": [{"memberships": []}]}


def test_an_all_insurer_token_sees_every_membership(service: Server) -> None:
    token = service.token()

    with service.client(token) as http:
        response = http.post(
            "/v1/lookups", json={"lookups": [{"nir": NIR_CORSE}, {"ref": "MH-2", "insurer": MALAKOFF}]}
        )

    corse, bruno = response.json()["results"]
    assert [(m["insurer"], m["ref"]) for m in corse["memberships"]] == [(ALAN, "AL-1")]
    assert corse["memberships"][0]["incidents"][0]["status"] == "not-affected"
    assert bruno["memberships"][0]["incidents"][0]["status"] == "presumed"


def test_as_known_on_answers_from_what_was_known_then(service: Server) -> None:
    token = service.token(MALAKOFF)

    with service.client(token) as http:
        before = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}], "as_known_on": "2024-01-31"})
        after = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}], "as_known_on": "2024-02-01"})

    assert before.json()["as_known_on"] == "2024-01-31T22:59:59.999999Z"
    assert before.json()["results"][0]["memberships"][0]["incidents"][0]["status"] == "not-affected"
    assert after.json()["results"][0]["memberships"][0]["incidents"][0]["status"] == "presumed"


def test_the_incident_summary_is_restricted_to_the_tokens_insurer(service: Server) -> None:
    malakoff, alan, team = service.token(MALAKOFF), service.token(ALAN), service.token()

    with service.client(malakoff) as http:
        mine = http.get(f"/v1/incidents/{INCIDENT}/summary")
        unknown = http.get("/v1/incidents/no-such-incident/summary")
    with service.client(alan) as http:
        theirs = http.get(f"/v1/incidents/{INCIDENT}/summary", params={"as_known_on": "2024-02-03"})
    with service.client(team) as http:
        everyone = http.get(f"/v1/incidents/{INCIDENT}/summary")

    assert mine.status_code == 200
    assert mine.json()["insurers"] == {"affected": [MALAKOFF], "ruled_out": [], "informed": [], "unknown": []}
    assert mine.json()["members"] == {"confirmed": 0, "presumed": 2, "ruled_out": 0, "affected": 2, "people": 2}
    assert mine.json()["fields"]["exposed"] == ["birth_date", "civil_status", "nir"]
    assert theirs.json()["insurers"] == {"affected": [], "ruled_out": [], "informed": [ALAN], "unknown": []}
    assert theirs.json()["members"]["affected"] == 0
    assert everyone.json()["insurers"]["affected"] == [MALAKOFF]
    assert everyone.json()["insurers"]["informed"] == [ALAN]
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown incident 'no-such-incident'"}


def test_a_summary_before_the_incident_was_known_counts_nothing_for_every_token(service: Server) -> None:
    malakoff, team = service.token(MALAKOFF), service.token()

    with service.client(team) as http:
        everyone = http.get(f"/v1/incidents/{INCIDENT}/summary", params={"as_known_on": "2024-01-20"})
    with service.client(malakoff) as http:
        mine = http.get(f"/v1/incidents/{INCIDENT}/summary", params={"as_known_on": "2024-01-20"})

    assert everyone.status_code == 200
    assert everyone.json() == {
        "incident": INCIDENT,
        "as_known_on": "2024-01-20T22:59:59.999999Z",
        "insurers": {"affected": [], "ruled_out": [], "informed": [], "unknown": [ALAN, MALAKOFF]},
        "members": {"confirmed": 0, "presumed": 0, "ruled_out": 0, "affected": 0, "people": 0},
        "fields": {"exposed": [], "ruled_out": [], "suspected": []},
    }
    assert mine.status_code == 200
    assert mine.json() == {**everyone.json(), "insurers": {**everyone.json()["insurers"], "unknown": [MALAKOFF]}}


def test_health_needs_no_token_and_tells_position_and_lag(service: Server) -> None:
    with service.client() as http:
        response = http.get("/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "position": 7, "lag": 0}


def test_bad_requests_answer_400_in_json_and_the_service_keeps_serving(service: Server) -> None:
    token = service.token(MALAKOFF)
    bad = {
        "malformed JSON": b'{"lookups": [',
        "not an object": b"[1, 2]",
        "unknown key": json.dumps({"lookups": [], "nirs": []}).encode(),
        "unknown item key": json.dumps({"lookups": [{"nir": NIR_ALICE, "name": "Alice"}]}).encode(),
        "1,001 lookups": json.dumps({"lookups": [{"ref": "MH-1"}] * 1001}).encode(),
        "both nir and ref": json.dumps({"lookups": [{"nir": NIR_ALICE, "ref": "MH-1"}]}).encode(),
        "neither": json.dumps({"lookups": [{}]}).encode(),
        "a number for a NIR": json.dumps({"lookups": [{"nir": 284017512345678}]}).encode(),
        "bad date": json.dumps({"lookups": [{"ref": "MH-1"}], "as_known_on": "2024-02-30"}).encode(),
        "datetime without offset": json.dumps({"lookups": [], "as_known_on": "2024-02-01T10:00:00"}).encode(),
        "oversize body": b'{"lookups": [], "as_known_on": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    }
    with service.client(token) as http:
        logged_before = _log_size(service)
        answers = {name: http.post("/v1/lookups", content=payload) for name, payload in bad.items()}
        summary = http.get(f"/v1/incidents/{INCIDENT}/summary", params={"as_known_on": "yesterday"})
        still = http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    for name, response in answers.items():
        assert response.status_code == 400, name
        assert set(response.json()) == {"error"}, name
        assert NIR_ALICE not in response.text, name
    assert summary.status_code == 400
    assert still.status_code == 200
    assert _log_size(service) == logged_before + 1  # the good lookup only


def _log_size(server: Server) -> int:
    done = exposure(server.store, "service", "log", "--json")
    return len(done.stdout.splitlines())
