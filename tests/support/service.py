"""The real lookup service for the tests: `exposure serve` in a child process on a free loopback port.

`ledger` is a SQLite store (time zone Europe/Paris) telling a small story: Malakoff
Humanis affected by the Viamedis incident with two members (Alice, Bruno), Alan only
informed with one member (Corse), the NIR, birth date and civil status exposed, Alice
notified by name. The `service` fixture (tests/service/conftest.py) runs `exposure serve` on
it for a whole module; each test creates the tokens it needs with the real CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.store import Store
from tests.support import EXPOSURE, INCIDENT, NIR_ALICE, NIR_BRUNO, NIR_CORSE, PARIS, append, fact, opening

MALAKOFF = "malakoff-humanis"
ALAN = "alan"

STORY = (
    opening(),
    fact(
        "members-enrolled",
        insurer=MALAKOFF,
        known_on="2024-01-15",
        members=[
            {"ref": "MH-1", "role": "holder", "nir": NIR_ALICE},
            {"ref": "MH-2", "role": "dependant", "nir": NIR_BRUNO},
        ],
    ),
    fact(
        "members-enrolled",
        insurer=ALAN,
        known_on="2024-01-15",
        members=[
            {"ref": "AL-1", "role": "holder", "nir": NIR_CORSE},
        ],
    ),
    fact("insurer-confirmed-affected", incident=INCIDENT, insurer=MALAKOFF, known_on="2024-02-01"),
    fact("insurer-informed", incident=INCIDENT, insurer=ALAN, known_on="2024-02-02"),
    fact("field-ruled-in", incident=INCIDENT, categories=["nir", "birth_date", "civil_status"], known_on="2024-02-01"),
    fact(
        "members-notified",
        incident=INCIDENT,
        insurer=MALAKOFF,
        refs=["MH-1"],
        known_on="2024-02-05T12:00:00+01:00",
        occurred_on="2024-02-05T10:00:00+01:00",
    ),
)


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exposure(store: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `exposure` entry point on `store`."""
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *args], capture_output=True, text=True, check=False, timeout=120
    )


def create_token(store: Path | str, *args: str) -> dict[str, Any]:
    """`exposure service token create ... --json`: the token and its public fields."""
    done = exposure(store, "service", "token", "create", "--json", *args)
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


@dataclass
class Server:
    """A running `exposure serve`."""

    store: Path  # a PostgreSQL store: its URL (str)
    url: str
    process: subprocess.Popen[bytes]
    stderr: Path
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client on the service, with the bearer token when given."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(self, insurer: str | None = None, rate: str = "1000/s", name: str = "test") -> str:
        """A new token (the service sees it within half a second)."""
        scope = ["--insurer", insurer] if insurer else ["--all-insurers"]
        created = create_token(self.store, *scope, "--name", name, "--rate", rate)
        self.tokens[created["token"]] = created
        wait_for_token(self.url, created["token"])
        return str(created["token"])


def wait_for_token(url: str, token: str) -> None:
    """Until the service accepts the token (it reloads tokens twice a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = httpx.post(url + "/v1/lookups", json={"lookups": []}, headers={"authorization": f"Bearer {token}"})
        if response.status_code != 401:
            return
        time.sleep(0.05)
    raise AssertionError("the service never accepted the new token")


@contextlib.contextmanager
def serving(store: Path | str, *options: str, logs: Path | None = None) -> Iterator[Server]:
    """`exposure serve` on a free port until the block ends (its stderr in `logs`, default the store's folder).
    `store` may also be a PostgreSQL URL (then with `logs`), run from the folder of its key file."""
    port = free_port()
    log = (logs or Path(store).parent) / f"serve-{port}.stderr"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(EXPOSURE), "--store", str(store), "serve", "--port", str(port), *options], stderr=sink
        )
    server = Server(store, f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"exposure serve stopped: {log.read_text()}")
            try:
                if httpx.get(server.url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("exposure serve did not start within 60 s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_store(folder: Path) -> Path:
    """A new store in `folder` with the story above."""
    path = folder / "ledger.db"

    async def build() -> None:
        store, _ = await Store.init(str(path), timezone=PARIS)
        await store.close()
        await append(path, *STORY)

    asyncio.run(build())
    return path


def body(response: httpx.Response) -> Any:
    """The JSON body without the echoed `as_known_on` (which is the moment of the request)."""
    data = response.json()
    if isinstance(data, dict):
        data.pop("as_known_on", None)
    return data
