"""The HTTP face of the lookup service: Litestar routes over `service.core.Service`.

Litestar decodes, validates and documents the msgspec types of `service.core` natively
(no pydantic, no second schema): the OpenAPI document at `/openapi.json` and the page at
`/docs` come from the same types that parse the requests. Every refusal is a JSON
`{"error": ...}` with its status (400, 401, 404, 429 with `Retry-After`); malformed JSON,
unknown keys, oversized bodies and more than 1,000 lookups are all 400s.
"""

from __future__ import annotations

import gc
import os
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIType,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)

from service.bodies import MAX_LOOKUPS, ErrorBody, Health, LookupRequest, LookupResponse, Refused, SummaryResponse
from service.core import Config, Service
from service.tokens import Token

CONFIG_VARIABLE: Final = "EXPOSURE_SERVICE_CONFIG"
MAX_BODY: Final = 1024 * 1024
"""1,000 lookups take well under 100 KiB; anything past 1 MiB is refused before parsing."""

_LOOKUP_REQUEST: Final = msgspec.json.Decoder(LookupRequest)
"""The body of `POST /v1/lookups`, decoded straight into its types: Litestar's own path (JSON to
Python objects, then converted and validated) cost 1.9 ms of a batch of 1,000 lookups' 20,
this one 0.15. The document still describes the body (`_exact`)."""

_ERRORS: Final = {
    400: ResponseSpec(ErrorBody, description="Malformed request (JSON, keys, sizes, dates)."),
    401: ResponseSpec(ErrorBody, description="No valid bearer token (missing, unknown or revoked)."),
    429: ResponseSpec(ErrorBody, description="Past the token's rate or a NIR's limit: see Retry-After."),
}


GC_THRESHOLDS: Final = (20_000, 50, 100)
"""The cyclic collector's thresholds in a service process: a batch of 1,000 lookups allocates some
ten thousand containers, none of them in cycles; at Python's default (700 allocations) the
young collections and the older ones they trigger cost 1-2 ms of a batch's 13-18 in process."""


def _settle() -> None:
    """After start-up: what it built lives as long as the process, so the collector stops
    scanning it (`gc.freeze`), and collects less often (`GC_THRESHOLDS`)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _service(connection: ASGIConnection[Any, Any, Any, Any]) -> Service:
    found: Service = connection.app.state.service
    return found


def _authorised(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard (runs before the body is read): 401 without a valid token."""
    connection.state.token = _service(connection).authenticate(connection.headers.get("authorization"))


def _token(request: Request[Any, Any, Any]) -> Token:
    found: Token = request.state.token
    return found


@post(
    "/v1/lookups",
    status_code=200,
    guards=[_authorised],
    security=[{"bearer": []}],
    responses=_ERRORS,
    summary="Look up members by NIR or by ref",
)
async def lookups(request: Request[Any, Any, Any]) -> LookupResponse:
    """Up to 1,000 lookups, answered in request order. A NIR enrolled at another insurer
    answers exactly as a NIR enrolled nowhere; an invalid NIR answers `{"error": "invalid NIR"}`."""
    try:
        data = _LOOKUP_REQUEST.decode(await request.body())
    except msgspec.DecodeError as problem:
        raise Refused(400, str(problem)) from None
    return await _service(request).lookups(_token(request), data)


@get(
    "/v1/incidents/{incident:str}/summary",
    guards=[_authorised],
    security=[{"bearer": []}],
    responses={**_ERRORS, 404: ResponseSpec(ErrorBody, description="Unknown incident.")},
    summary="An incident's summary, restricted to the token's insurer",
)
async def incident_summary(
    request: Request[Any, Any, Any], incident: str, as_known_on: str | None = None
) -> SummaryResponse:
    """Insurers by status, member counts and fields, as known on `as_known_on` (default: now)."""
    return await _service(request).summary(_token(request), incident, as_known_on)


@get("/v1/health", summary="Where the answers stand")
async def health(request: Request[Any, Any, Any]) -> Health:
    """No token needed: the position answered from and how many facts behind the ledger it is."""
    return _service(request).health()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    return Response(ErrorBody(error=message), status_code=status, headers=headers or {})


def _refused(_: Request[Any, Any, Any], problem: Refused) -> Response[ErrorBody]:
    return _error(problem.status, problem.message, problem.headers)


def _invalid(_: Request[Any, Any, Any], problem: ValidationException) -> Response[ErrorBody]:
    details = [str(e.get("message", "")) for e in problem.extra or [] if isinstance(e, dict)]
    return _error(400, "; ".join(d for d in details if d) or "invalid request")


def _http(_: Request[Any, Any, Any], problem: HTTPException) -> Response[ErrorBody]:
    if problem.status_code == 413:
        return _error(400, f"request body larger than {MAX_BODY // 1024} KiB")
    status = 400 if problem.status_code in (400, 415, 422) else problem.status_code
    return _error(status, str(problem.detail), dict(problem.headers or {}))


def create_app(config: Config | None = None) -> Litestar:
    """The application; `config` defaults to the JSON in $EXPOSURE_SERVICE_CONFIG (uvicorn workers)."""
    if config is None:
        config = msgspec.json.decode(os.environ[CONFIG_VARIABLE], type=Config)
    service = Service(config)
    app = Litestar(
        route_handlers=[lookups, incident_summary, health],
        on_startup=[service.start, _settle],
        on_shutdown=[service.stop],
        exception_handlers={Refused: _refused, ValidationException: _invalid, HTTPException: _http},
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(
            title="exposure lookup service",
            version="1",
            description="Which members, which fields, as known on any date: for organisations holding a token.",
            path="/",
            render_plugins=[JsonRenderPlugin(path="/openapi.json"), RedocRenderPlugin(path="/docs")],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="exp_... token")}
            ),
        ),
        debug=False,
    )
    app.state.service = service
    _exact(app)
    return app


def _exact(app: Litestar) -> None:
    """Say in the document what the decoder enforces: no unknown key anywhere in a request,
    and a lookup is either `{"nir"}` or `{"ref", "insurer"?}`."""
    document = app.openapi_schema
    schemas = document.components.schemas
    text = Schema(type=OpenAPIType.STRING)
    schemas["LookupRequest"] = Schema(
        title="LookupRequest",
        type=OpenAPIType.OBJECT,
        required=["lookups"],
        properties={
            "lookups": Schema(
                type=OpenAPIType.ARRAY,
                items=Reference(ref="#/components/schemas/LookupItem"),
                max_items=MAX_LOOKUPS,
            ),
            "as_known_on": Schema(one_of=[text, Schema(type=OpenAPIType.NULL)]),
        },
        additional_properties=False,
    )
    route = document.paths["/v1/lookups"].post if document.paths else None
    if route is not None:  # the handler reads its body itself: the document names it
        route.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/LookupRequest"))},
            required=True,
        )
    schemas["LookupItem"] = Schema(
        description="One lookup: by NIR, or by member ref (an all-insurer token also names the insurer).",
        one_of=[
            Schema(type=OpenAPIType.OBJECT, required=["nir"], properties={"nir": text}, additional_properties=False),
            Schema(
                type=OpenAPIType.OBJECT,
                required=["ref"],
                properties={"ref": text, "insurer": text},
                additional_properties=False,
            ),
        ],
    )
