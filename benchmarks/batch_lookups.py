"""`exposure member --nir -` (batch lookups from standard input) on a store left by
`benchmarks/roster.py --store DIR`, against one-at-a-time lookups measured in the same run.

    python benchmarks/roster.py --members 1000000 --store /var/tmp/bench1m --import-only
    python benchmarks/batch_lookups.py --store /var/tmp/bench1m --members 1000000 --nirs 20000

Records the benchmark incident first if the store has none (every insurer affected, a few
scoped), so that each answer holds a status and fields. Prints NIRs per second of the real
command (process start-up included), of the batch query in process, and of
`queries.member` called once per NIR (the baseline). Target: at least 20,000 NIRs/s for the
real command at 1,000,000 members.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import roster as bench  # noqa: E402
from domain.nir import pseudonym  # noqa: E402
from ledger.store import Store  # noqa: E402
from projections import batch, queries  # noqa: E402

TARGET_PER_S = 20_000
BATCH = 5_000


def nirs_of(files: list[tuple[str, Path, int]], count: int) -> list[str]:
    """`count` NIRs drawn from the rosters (seeded), each enrolled somewhere."""
    found: list[str] = []
    for _, path, _ in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            found.extend(row[5] for row in reader if row[5])
    return random.Random(7).sample(found, min(count, len(found)))


async def in_process(
    store_path: Path, key_file: Path, nirs: list[str], singles: int, insurers: list[str]
) -> tuple[float, float, int]:
    """(batch NIRs/s, one-at-a-time NIRs/s, memberships found), after recording the incident if missing."""
    store = await Store.open(str(store_path), key_file)
    try:
        if bench.INCIDENT not in await queries.incidents(store.db):
            await bench._record_incident(store, insurers)
        h = await store.horizon()
        hashed = [pseudonym(n, store.keys.nir_key) for n in nirs]
        started = time.perf_counter()
        found = 0
        pieces = batch.Pieces()
        for start in range(0, len(hashed), BATCH):
            for answer in await batch.members_by_nir(store.db, h, hashed[start : start + BATCH], pieces):
                found += len(answer.memberships)
        batch_rate = len(hashed) / (time.perf_counter() - started)
        started = time.perf_counter()
        for one in hashed[:singles]:
            msgspec.to_builtins(await queries.member(store.db, h, nir_pseudonym=one))
        single_rate = singles / (time.perf_counter() - started)
    finally:
        await store.close()
    return batch_rate, single_rate, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", required=True, help="the work folder of a roster.py run")
    parser.add_argument("--members", type=int, required=True, help="that run's population size")
    parser.add_argument("--nirs", type=int, default=20_000, help="NIRs looked up")
    parser.add_argument("--singles", type=int, default=2_000, help="NIRs looked up one at a time (baseline)")
    args = parser.parse_args()
    work = Path(args.store)
    files = bench.generate(work / f"rosters-{args.members}", args.members)
    store_path, key_file = work / "store" / "exposure.db", bench.key_file(work / "store")
    nirs = nirs_of(files, args.nirs)
    insurers = [insurer for insurer, _, _ in files]
    batch_rate, single_rate, found = asyncio.run(in_process(store_path, key_file, nirs, args.singles, insurers))
    exposure = Path(sys.executable).with_name("exposure")
    started = time.perf_counter()
    result = subprocess.run(
        [str(exposure), "--store", str(store_path), "--key-file", str(key_file), "member", "--nir", "-"],
        input="".join(n + "\n" for n in nirs),
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    lines = result.stdout.splitlines()
    answered = sum(1 for line in lines if json.loads(line)["memberships"])
    cli_rate = len(nirs) / elapsed
    verdict = "ok" if cli_rate >= TARGET_PER_S else "MISS"
    print(f"members {args.members:,}, NIRs looked up {len(nirs):,} ({answered:,} answered, {found:,} memberships)")
    print(
        f"exposure member --nir -   {cli_rate:>10,.0f} NIRs/s  {elapsed:.2f} s with start-up  {verdict} (target >= "
        f"{TARGET_PER_S:,})"
    )
    print(f"batch query in process    {batch_rate:>10,.0f} NIRs/s")
    print(f"one lookup at a time      {single_rate:>10,.0f} NIRs/s  (baseline; batch x{batch_rate / single_rate:.1f})")


if __name__ == "__main__":
    main()
