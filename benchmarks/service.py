"""Lookup service benchmark: the real `exposure serve` on a large store, loaded over loopback.

    python benchmarks/service.py --members 1000000 --work /var/tmp/exposure-service-bench
    python benchmarks/service.py --quick        # 20,000 members, short phases (a smoke run)

Builds (or reuses) a store of `--members` synthetic members with `benchmarks/roster.py`'s
population (84 insurers, about half the rows with a NIR) and one incident that affects
every insurer, creates two tokens (one scoped to the largest insurer, one for batches),
starts `exposure serve` with one worker on 127.0.0.1 and drives it from this process with
an asyncio httpx client (keep-alive connections, one per simulated client). Every phase is
bounded in requests and in seconds, and talks to the loopback address only.

Measured in the same run:

- baseline: `GET /v1/health` (no token, no query, no log) at 16 clients: what the client and
  the HTTP stack cost on this machine, the ceiling of any endpoint;
- single lookups by NIR (hits in the scoped insurer's roster): requests/s, p50 and p99
  latency at 1, 16 and 64 concurrent clients;
- batches of 1,000 NIRs at 4 clients: NIRs/s and the latency of a batch;
- `--client raw` replaces httpx with a minimal HTTP/1.1 client (`RawConnection`) that costs the
  load generator far less CPU, for a second run on the same store;
- the server's CPU time per request in each phase (from /proc): whether the server was the limit;
- single lookups at 16 clients and batches again on a server started with `--reads thread`
  (each lookup query through aiosqlite's thread instead of in the event loop).

`--json-out FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import httpx

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import roster as bench  # noqa: E402

HOST: Final = "127.0.0.1"
EXPOSURE: Final = Path(sys.executable).with_name("exposure")
TARGETS: Final = {"single_16_rps": 1500.0, "single_16_p99_ms": 50.0, "batch_nirs_per_s": 50_000.0}


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def prepare(
    work: Path, members: int, store_dir: Path | None = None, ledger_url: str | None = None
) -> tuple[str, Path, list[tuple[str, Path, int]]]:
    """The store and the roster files (`work/rosters-N`, generated once and reused): the store
    `store_dir` kept by an earlier run (`benchmarks/roster.py --store DIR` leaves `DIR/store`),
    the one of `work/store-N` (imported once, then reused), or a PostgreSQL database
    `ledger_url` (imported every run). The benchmark incident is recorded if missing."""
    files = bench.generate(work / f"rosters-{members}", members)
    insurers = [insurer for insurer, _, _ in files]
    if store_dir is not None:
        ledger = str(store_dir / "exposure.db")
        if not Path(ledger).exists():
            raise SystemExit(f"no store at {ledger}")
        asyncio.run(_incident(ledger, store_dir, insurers))
        return ledger, bench.key_file(store_dir), files
    if ledger_url is not None:
        store_dir = work / f"pg-store-{members}"
        print(f"importing {members:,} members into PostgreSQL...", flush=True)
        bench.run_import(store_dir, ledger_url, files)
        asyncio.run(_incident(ledger_url, store_dir, insurers))
        return ledger_url, bench.key_file(store_dir), files
    store_dir = work / f"store-{members}"
    ledger = str(store_dir / "exposure.db")
    done = store_dir / "ready"
    if not done.exists():
        print(f"importing {members:,} members (once; reused by later runs)...", flush=True)
        started = time.perf_counter()
        bench.run_import(store_dir, ledger, files)
        asyncio.run(_incident(ledger, store_dir, insurers))
        done.write_text(f"{time.perf_counter() - started:.1f}\n")
    return ledger, bench.key_file(store_dir), files


async def _incident(ledger: str, store_dir: Path, insurers: list[str]) -> None:
    from ledger.store import Store  # noqa: PLC0415 - only when building the store
    from projections import queries  # noqa: PLC0415

    store = await Store.open(ledger, bench.key_file(store_dir))
    try:
        if bench.INCIDENT not in await queries.incidents(store.db):
            await bench._record_incident(store, insurers)
    finally:
        await store.close()


def nirs_of(path: Path, count: int) -> list[str]:
    """Up to `count` NIRs of one roster file, shuffled."""
    found: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if row[5]:
                found.append(row[5])
    random.Random(5).shuffle(found)
    return found[:count]


def cli(ledger: str, key: Path, *args: str) -> str:
    """Run `exposure` on the benchmark store; its standard output."""
    done = subprocess.run(
        [str(EXPOSURE), "--store", str(ledger), "--key-file", str(key), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (`--workers N`:
    uvicorn's supervisor and its worker processes; Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # the process ended between two reads
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client on one loopback connection: the request's bytes out,
    the status line, headers and `Content-Length` bytes back. It costs the load generator a
    fraction of httpx's CPU, which matters when client and server share two cores."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None) -> int:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body or b'')}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def load(
    base: str,
    clients: int,
    seconds: float,
    max_requests: int,
    request: Any,
    client_kind: str = "httpx",
) -> dict[str, Any]:
    """`clients` concurrent keep-alive clients sending `request(client, n)` until either bound."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    port = int(base.rsplit(":", 1)[1])

    async def one(send: Any, number: int) -> None:
        nonlocal errors, sent
        n = 0
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            method, path, body, headers = request(number, n)
            n += 1
            started = time.perf_counter()
            status = await send(method, path, body, headers)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1

    started = time.perf_counter()
    if client_kind == "raw":
        connections = [await RawConnection.open(port) for _ in range(clients)]
        started = time.perf_counter()
        await asyncio.gather(*(one(c.request, i) for i, c in enumerate(connections)))
        elapsed = time.perf_counter() - started
        for c in connections:
            c.close()
    else:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

            async def send(method: str, path: str, body: bytes | None, headers: dict[str, str] | None) -> int:
                return (await client.request(method, path, content=body, headers=headers)).status_code

            await client.get("/v1/health")
            started = time.perf_counter()
            await asyncio.gather(*(one(send, i) for i in range(clients)))
            elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "client": client_kind,
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def _token(ledger: str, key: Path, *scope: str) -> str:
    args = ("service", "token", "create", *scope, "--name", "bench", "--rate", "1000000/s", "--json")
    return str(json.loads(cli(ledger, key, *args))["token"])


def benchmark(args: argparse.Namespace, ledger_url: str | None = None) -> dict[str, Any]:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store_dir = Path(args.store_dir) if args.store_dir else None
    ledger, key, files = prepare(work, args.members, store_dir, ledger_url)
    insurer, path, size = max(files, key=lambda f: f[2])
    nirs = nirs_of(path, 20_000)
    results: dict[str, Any] = {
        "members": args.members,
        "backend": "postgresql" if ledger_url else "sqlite",
        "insurer": insurer,
        "insurer_members": size,
        "workers": args.workers,
        "phases": {},
    }
    auth = {"authorization": f"Bearer {_token(ledger, key, '--insurer', insurer)}", "content-type": "application/json"}
    every = {"authorization": f"Bearer {_token(ledger, key, '--all-insurers')}", "content-type": "application/json"}
    health = ("GET", "/v1/health", None, None)
    # Request bodies are encoded once: the load generator shares the two cores with the server.
    singles = [json.dumps({"lookups": [{"nir": nir}]}).encode() for nir in nirs]
    batches = [
        json.dumps({"lookups": [{"nir": nir} for nir in nirs[start : start + 1000]]}).encode()
        for start in range(0, max(1, len(nirs) - 999), 1000)
    ]

    def single(headers: dict[str, str]) -> Any:
        return lambda c, n: ("POST", "/v1/lookups", singles[(c * 7919 + n) % len(singles)], headers)

    def batch(headers: dict[str, str]) -> Any:
        return lambda c, n: ("POST", "/v1/lookups", batches[(c * 13 + n) % len(batches)], headers)

    bound = max(20, args.requests // 200)
    runs: list[tuple[str, list[tuple[str, int, Any, int]]]] = [
        (
            "inline",
            [("baseline_health_16", 16, lambda _c, _n: health, args.requests)]
            + [(f"single_{c}", c, single(auth), args.requests) for c in (1, 16, 64)]
            + [("batch_1000_x4", 4, batch(auth), bound)]
            + [("all_single_16", 16, single(every), args.requests), ("all_batch_1000_x4", 4, batch(every), bound)],
        ),
    ]
    if ledger_url is None:  # on PostgreSQL every read goes through psycopg's pool: no inline/thread choice
        runs.append(
            (
                "thread",
                [
                    ("thread_single_16", 16, single(auth), args.requests),
                    ("thread_batch_1000_x4", 4, batch(auth), bound),
                ],
            )
        )
    wanted = set(args.phases.split(",")) if args.phases else None
    counts = [int(n) for n in str(args.workers).split(",")]
    for workers, (reads, listed) in ((w, run) for w in counts for run in runs):
        suffix = f"_w{workers}" if len(counts) > 1 else ""
        phases = [(p[0] + suffix, *p[1:]) for p in listed if wanted is None or p[0] in wanted]
        if not phases:
            continue
        port = free_port()
        base = f"http://{HOST}:{port}"
        server = subprocess.Popen(
            [
                str(EXPOSURE),
                "--store",
                ledger,
                "--key-file",
                str(key),
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--nir-limit",
                "1000000",
                "--reads",
                reads,
            ],
            stderr=subprocess.PIPE,
        )
        try:
            _wait(base, server)
            for name, clients, make, limit in phases:
                before = cpu_seconds(server.pid)
                database_before = bench.server_cpu_s(ledger) if ledger_url else 0.0
                load_before = os.getloadavg()[0]
                figures = asyncio.run(load(base, clients, args.seconds, limit, make, args.client))
                figures["server_cpu_s"] = cpu_seconds(server.pid) - before
                figures["server_cpu_ms_per_request"] = figures["server_cpu_s"] * 1000 / max(1, figures["requests"])
                if ledger_url:
                    figures["postgres_cpu_s"] = bench.server_cpu_s(ledger) - database_before
                    figures["postgres_cpu_ms_per_request"] = (
                        figures["postgres_cpu_s"] * 1000 / max(1, figures["requests"])
                    )
                figures["load_average_1min"] = (load_before + os.getloadavg()[0]) / 2
                if "batch" in name:
                    figures["nirs_per_s"] = figures["rps"] * 1000
                results["phases"][name] = figures
                print(f"{name:22} {_line(figures)}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            if httpx.get(base + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start within 120 s")


def _line(f: dict[str, Any]) -> str:
    database = f" + PostgreSQL {f['postgres_cpu_ms_per_request']:.2f}" if "postgres_cpu_s" in f else ""
    return (
        f"{f['requests']:>7} req in {f['seconds']:5.1f} s  {f['rps']:8.0f} req/s  p50 {f['p50_ms']:6.2f} ms"
        f"  p99 {f['p99_ms']:7.2f} ms  errors {f['errors']}  server CPU {f['server_cpu_ms_per_request']:.2f}"
        f"{database} ms/req  load {f['load_average_1min']:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    work = "/var/tmp/exposure-service-bench"  # noqa: S108 - a benchmark's work folder, kept between runs
    parser.add_argument("--work", default=work, help="folder for rosters (WORK/rosters-N) and the store")
    parser.add_argument(
        "--store-dir",
        help="a kept store folder (exposure.db and exposure.key, e.g. the DIR/store that"
        " `benchmarks/roster.py --store DIR` leaves) instead of WORK/store-N",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="import the members into a throw-away PostgreSQL server (tests/support/postgres_server.py), serve from it",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="at most this long per phase")
    parser.add_argument("--requests", type=int, default=30_000, help="at most this many requests per phase")
    parser.add_argument("--workers", default="1", help="worker processes; a list (1,2) runs each in turn")
    parser.add_argument(
        "--client", choices=("httpx", "raw"), default="httpx", help="load generator: httpx, or raw HTTP/1.1 bytes"
    )
    parser.add_argument("--phases", help="comma-separated phase names to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="20,000 members, 2 s phases")
    parser.add_argument("--json-out", help="write the figures to this file")
    parser.add_argument("--prepare-only", action="store_true", help="build the store, measure nothing")
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; options given explicitly still win
        for name, value in (("members", 20_000), ("seconds", 2.0), ("requests", 2_000)):
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.prepare_only:
        prepare(Path(args.work), args.members, Path(args.store_dir) if args.store_dir else None)
        return 0
    if args.postgres:
        from tests.support.postgres_server import running_server  # noqa: PLC0415 - a throw-away server

        with running_server() as url:
            results = benchmark(args, url)
    else:
        results = benchmark(args)
    phases = results["phases"]
    if "single_16" in phases and "batch_1000_x4" in phases:
        s16, nirs = phases["single_16"], phases["batch_1000_x4"]["nirs_per_s"]
        print(
            f"single lookups, 16 clients: {s16['rps']:.0f} req/s (target >= 1,500), p99 {s16['p99_ms']:.1f} ms"
            f" (target <= 50); batches: {nirs:,.0f} NIRs/s (target >= 50,000)"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
