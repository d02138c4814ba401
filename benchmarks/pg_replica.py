"""Lookups from a hot-standby replica while the primary imports: what a replica buys.

    python benchmarks/pg_replica.py --members 200000 --second 200000

Starts a throw-away primary and a streaming standby (`pg_basebackup -R`, the servers of the
test suite: `tests/support/postgres_server.py`), imports N members into the primary, records
an incident, then measures lookups by insurer + ref in process (`queries.member`, the code
path of `exposure member` and of the lookup service), p50 and p99 over a fixed number:

1. quiet: on the primary, then through `--read-store` (reads on the standby);
2. while a second roster import of M members runs on the primary (a whole `exposure members
   import` process per insurer): on the primary, then on the standby;
3. the replica's lag as a reader sees it: after each import of step 2 (one per insurer),
   how long `Store.ready_for_reads` waits until the standby has replayed the primary's
   projections (`--max-lag`'s wait).

Both servers run on this machine: a standby here shares the primary's cores, so the figures
show what separating reads from writes costs and protects, not the capacity a replica on
its own machine adds (docs/BENCHMARKS.md says how to read them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

import msgspec

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import roster  # noqa: E402 - after the path is set

EXPOSURE: Final = str(Path(sys.executable).with_name("exposure"))


def _quantiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


async def lookups(primary: str, key: Path, read: str | None, keys: list[tuple[str, str]], count: int) -> list[float]:
    """`count` lookups by insurer + ref, each timed, on the primary or (with `read`) the replica."""
    from ledger.store import Store  # noqa: PLC0415
    from projections import queries  # noqa: PLC0415

    store = await Store.open(primary, key, read_location=read)
    try:
        h = await store.horizon()
        rng = random.Random(5)
        timed = []
        for _ in range(count):
            insurer, ref = rng.choice(keys)
            started = time.perf_counter()
            found = msgspec.to_builtins(await queries.member(store.db, h, insurer_id=insurer, ref=ref))
            timed.append(time.perf_counter() - started)
            if not found["memberships"]:
                raise RuntimeError(f"no membership for {insurer} {ref}")
        return timed
    finally:
        await store.close()


async def lag_waits(primary: str, key: Path, read: str, done: threading.Event) -> list[float]:
    """While `done` is unset: how long a read through the replica waits before it may answer."""
    from ledger.store import Store  # noqa: PLC0415

    store = await Store.open(primary, key, read_location=read, max_lag=120)
    waits = []
    try:
        while not done.is_set():
            started = time.perf_counter()
            await store.ready_for_reads()
            waits.append(time.perf_counter() - started)
            await asyncio.sleep(0.2)
    finally:
        await store.close()
    return waits


def second_import(folder: Path, primary: str, key: Path, files: list[tuple[str, Path, int]]) -> float:
    """Each roster of `files` through a whole `exposure members import` process; seconds."""
    started = time.perf_counter()
    for insurer, path, _ in files:
        done = subprocess.run(
            [
                EXPOSURE,
                "--store",
                primary,
                "--key-file",
                str(key),
                "members",
                "import",
                str(path),
                "--insurer",
                insurer,
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"members import failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def measure_during(
    work: Path, primary: str, key: Path, read: str | None, keys: list[tuple[str, str]], count: int, files: Any
) -> tuple[list[float], float]:
    """Lookups while the second import runs (the lookups loop until it ends, at least `count`)."""
    result: dict[str, float] = {}
    importer = threading.Thread(target=lambda: result.update(seconds=second_import(work, primary, key, files)))
    importer.start()
    timed: list[float] = []
    while importer.is_alive() or len(timed) < count:
        timed += asyncio.run(lookups(primary, key, read, keys, 50))
    importer.join()
    return timed, result.get("seconds", 0.0)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.postgres_server import running_cluster  # noqa: PLC0415 - throw-away servers

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="exposure-replica-"))
    r: dict[str, Any] = {"members": args.members, "second": args.second, "cpus": os.cpu_count()}
    files = roster.generate(work / "rosters", args.members)
    # the same insurers' rosters again, regenerated (each import re-enrols their members)
    later = [roster.generate(work / f"rosters-{seed}", args.second, seed=seed)[: args.insurers] for seed in (2, 3, 4)]
    with running_cluster() as cluster:
        primary, replica = cluster.url("primary"), cluster.url("standby")
        store_dir = work / "store"
        imported = roster.run_import(store_dir, primary, files)
        key = roster.key_file(store_dir)
        say(f"primary: {imported['rows']:,} members imported in {imported['seconds']:.1f} s")
        keys, _ = roster.sample_members(files, 400)

        async def incident() -> None:
            from ledger.store import Store  # noqa: PLC0415

            store = await Store.open(primary, key)
            try:
                await roster._record_incident(store, [insurer for insurer, _, _ in files])
                await store.catch_up()
            finally:
                await store.close()

        asyncio.run(incident())
        for name, read in (("primary", None), ("replica", replica)):
            r[f"quiet_{name}"] = _quantiles(asyncio.run(lookups(primary, key, read, keys, args.lookups)))
            say(f"quiet, {name}: {r[f'quiet_{name}']}")
        r["load_before"] = os.getloadavg()[0]
        for name, read, batch in (("primary", None, later[0]), ("replica", replica, later[1])):
            timed, seconds = measure_during(work, primary, key, read, keys, args.lookups, batch)
            r[f"import_{name}"] = _quantiles(timed) | {"import_s": seconds, "members": sum(s for _, _, s in batch)}
            say(f"during an import, {name}: {r[f'import_{name}']}")
        done = threading.Event()
        waits: list[float] = []
        watcher = threading.Thread(
            target=lambda: waits.extend(asyncio.run(lag_waits(primary, key, replica, done))), daemon=True
        )
        watcher.start()
        second_import(work, primary, key, later[2])
        done.set()
        watcher.join()
        r["replica_wait"] = _quantiles(waits) | {"max_ms": max(waits) * 1000}
        say(f"replica wait while importing: {r['replica_wait']}")
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000, help="members imported before measuring")
    parser.add_argument("--second", type=int, default=200_000, help="population of the rosters imported meanwhile")
    parser.add_argument("--insurers", type=int, default=8, help="rosters of the second population imported")
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    r = benchmark(args)
    print(json.dumps(r, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
