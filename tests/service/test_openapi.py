"""The OpenAPI document against the real responses (schemathesis, bounded), and the docs page."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.service import MALAKOFF, Server

EXAMPLES = 30


def test_the_openapi_document_and_the_docs_page_are_served(service: Server) -> None:
    document = httpx.get(service.url + "/openapi.json")
    page = httpx.get(service.url + "/docs")

    assert document.status_code == 200
    paths = document.json()["paths"]
    assert set(paths) == {"/v1/lookups", "/v1/incidents/{incident}/summary", "/v1/health"}
    assert set(paths["/v1/lookups"]["post"]["responses"]) >= {"200", "400", "401", "429"}
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/v1/lookups" in page.text  # the page embeds the same document


def test_every_response_matches_the_openapi_document(service: Server) -> None:
    token = service.token(MALAKOFF, rate="100000/s")
    schema = schemathesis.openapi.from_dict(httpx.get(service.url + "/openapi.json").json())
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.path == "/v1/health":
                continue  # no input at all: nothing to get wrong

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                headers = {"authorization": f"Bearer {token}"}
                response = case.call(base_url=service.url, headers=headers)
                # Explicit credentials: schemathesis also probes the call without and with invalid ones (401).
                # Excluded: "schema-valid data is accepted". No schema can say that a date must exist
                # (2024-02-30) or that an all-insurer token names each ref's insurer: the service
                # answers those with the documented 400, which test_lookups checks one by one.
                case.validate_response(
                    response,
                    headers=headers,
                    transport_kwargs={"base_url": service.url},
                    excluded_checks=[positive_data_acceptance],
                )
                assert response.status_code < 500

            check()
            checked += 1
    assert checked == 5
    assert httpx.get(service.url + "/v1/health").json()["status"] == "ok"  # still serving
