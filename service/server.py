"""Run the lookup service under uvicorn (imported by `exposure serve` only)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import msgspec
import uvicorn

from service.app import CONFIG_VARIABLE, create_app
from service.core import Config
from service.limits import Shared


def serve(config: Config, host: str, port: int, workers: int) -> None:
    """Serve until interrupted. One worker runs in this process; N workers are N processes
    (uvicorn's supervisor), each with its own read pool and catch-up, sharing one set of rate
    limits (`service.limits.Shared`) and one access log (chained inside its write lock)."""
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
    folder = Path(tempfile.mkdtemp(prefix="exposure-serve-"))  # 0700: the limits of this service only
    try:
        limits = folder / "limits"
        Shared.create(limits)  # before the workers start: each maps the same buckets and NIR counts
        shared = msgspec.structs.replace(config, limits_path=str(limits))
        os.environ[CONFIG_VARIABLE] = msgspec.json.encode(shared).decode()
        uvicorn.run("service.app:create_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
