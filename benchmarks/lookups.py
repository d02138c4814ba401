"""Member lookups on a store left by `benchmarks/roster.py --store DIR`, against the raw table
of the same run, without importing again (a roster import at 20M takes a quarter of an hour).

    python benchmarks/lookups.py --store /var/tmp/r3big --members 20000000

Prints the medians of `--lookups` lookups by insurer + ref and by NIR pseudonym, each next
to the indexed lookup on the raw table, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import statistics
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
from projections import queries  # noqa: E402


async def exposure_lookups(work: Path, keys: list[tuple[str, str]], nirs: list[str]) -> tuple[float, float]:
    """Median seconds of `queries.member` by (insurer, ref) and by NIR."""
    store = await Store.open(str(work / "store" / "exposure.db"), bench.key_file(work / "store"))
    try:
        h = await store.horizon()
        by_ref, by_nir = [], []
        for insurer, ref in keys:
            started = time.perf_counter()
            found = msgspec.to_builtins(await queries.member(store.db, h, insurer_id=insurer, ref=ref))
            by_ref.append(time.perf_counter() - started)
            if not found["memberships"]:
                raise RuntimeError(f"no membership for {insurer} {ref}")
        for nir in nirs:
            hashed = pseudonym(nir, store.keys.nir_key)
            started = time.perf_counter()
            found = msgspec.to_builtins(await queries.member(store.db, h, nir_pseudonym=hashed))
            by_nir.append(time.perf_counter() - started)
            if not found["memberships"]:
                raise RuntimeError("no membership for a sampled NIR")
    finally:
        await store.close()
    return statistics.median(by_ref), statistics.median(by_nir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the work folder of a roster.py run (kept with --store)")
    parser.add_argument("--members", type=int, required=True, help="that run's population size")
    parser.add_argument("--lookups", type=int, default=200, help="lookups per kind (median reported)")
    args = parser.parse_args()
    work = Path(args.store)
    files = bench.generate(work / f"rosters-{args.members}", args.members)
    keys, nirs = bench.sample_members(files, args.lookups)
    key = hashlib.sha256(b"bench").digest()
    hashed = [hmac.digest(key, nir.encode(), "sha256")[:16].hex() for nir in nirs]
    raw_ref, raw_nir = bench.raw_lookups(work / "raw.db", keys, hashed)
    ref, nir = asyncio.run(exposure_lookups(work, keys, nirs))
    print(f"lookup by insurer+ref  {ref * 1000:.3f} ms  raw {raw_ref * 1000:.3f} ms  x{ref / raw_ref:.2f}")
    print(f"lookup by NIR          {nir * 1000:.3f} ms  raw {raw_nir * 1000:.3f} ms  x{nir / raw_nir:.2f}")


if __name__ == "__main__":
    main()
