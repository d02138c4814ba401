"""Run the lookup service under uvicorn (imported by `exposure serve` only)."""

from __future__ import annotations

import importlib.util
import os

import msgspec
import uvicorn

from service.app import CONFIG_VARIABLE, create_app
from service.core import Config


def serve(config: Config, host: str, port: int, workers: int) -> None:
    """Serve until interrupted. One worker runs in this process; N workers are N processes
    (uvicorn's supervisor), each with its own read pool, limits and catch-up."""
    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,  # the service keeps its own access log; request lines stay out of stderr
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "lifespan": "on",
        "timeout_graceful_shutdown": 5,
    }
    if workers == 1:
        uvicorn.run(create_app(config), **options)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_VARIABLE] = msgspec.json.encode(config).decode()
    uvicorn.run("service.app:create_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
