"""Roster scale benchmark: exposure's roster import and queries against raw baselines.

    python benchmarks/roster.py --members 20000000 --store /var/tmp/exposure-bench
    python benchmarks/roster.py --quick            # a few thousand members (CI smoke run)
    python benchmarks/roster.py --members 200000 --ledger postgresql://bench@/bench   # an empty database

`--ledger` names where exposure's store lives: an SQLite file (default `store/exposure.db` in
the working folder) or a PostgreSQL URL naming an empty database; the raw baselines and
the rosters stay in the working folder.

Generates a synthetic population (84 insurers, Zipf-like sizes: the largest holds ~15%;
holders and dependants; contracts; membership periods; a valid synthetic NIR on about half
the rows, ~3% of those NIRs also enrolled at another insurer), one CSV file per insurer,
then measures in the same run:

- raw: Python `csv` + HMAC-SHA256 of the NIR + `sqlite3.executemany` into one WITHOUT
  ROWID table (WAL): the floor any Python roster loader pays;
- import: `ledger.roster.import_roster` for every insurer (the code path of
  `exposure members import`), in a child process whose peak memory is measured;
- naive: one eventsourcing event per member through `Application.save()`, on a sample,
  extrapolated;
- lookups (by insurer+ref and by NIR, through `queries.member`) against an indexed
  lookup on the raw table; summary cold and warm; export against a raw SELECT written
  as CSV; `Store.rebuild` against the import; store bytes per member;
- whole processes (`benchmarks/commands.py`, SQLite stores): `exposure --version`, `summary`,
  `member --insurer --ref`, `obligations`, `diff` and `timeline`, next to `python -c pass`.

Prints a table with each ratio next to its target; `--json-out FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import hmac
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

INSURERS: Final = 84
LARGEST_SHARE: Final = 0.15
NIR_SHARE: Final = 0.5
SHARED_NIR_SHARE: Final = 0.03
KNOWN_ON: Final = "2024-01-01"
INCIDENT: Final = "bench-2024-01"
SCOPED: Final = 3
HEADER: Final = "ref,role,contract,from,until,nir\n"
GENERATOR_VERSION: Final = 1
RAW_BATCH: Final = 5_000
RAW_CPU: list[float] = [0.0]
EXPORT_HEADER: Final = (
    "incident",
    "insurer",
    "ref",
    "role",
    "contract",
    "from",
    "until",
    "status",
    "fields",
    "implied",
    "notified_at",
)
GIB: Final = 1024**3

TARGETS: Final = {
    "import_vs_raw": (">=", 0.5),
    "peak_memory_gib": ("<", 1.0),
    "lookup_ref_vs_raw": ("<=", 10.0),
    "lookup_nir_vs_raw": ("<=", 10.0),
    "summary_warm_ms": ("<=", 100.0),
    "summary_cold_ms": ("<=", 100.0),
    "export_vs_raw": (">=", 0.5),
    "rebuild_vs_import": (">=", 0.5),
    "version_process_ms": ("<=", 150.0),
    "summary_process_ms": ("<=", 250.0),
    "member_process_ms": ("<=", 250.0),
    "replay_vs_import": ("<=", 2.0),
}
PROCESS_ROWS: Final = (  # benchmarks/commands.py figure, label, target name
    ("python", "python -c pass (baseline)", None),
    ("version", "exposure --version, whole process", "version_process_ms"),
    ("summary_warm", "summary (warm), whole process", "summary_process_ms"),
    ("member", "member --insurer --ref, whole process", "member_process_ms"),
    ("obligations_first", "obligations, first run", None),
    ("obligations", "obligations, again", None),
    ("diff_first", "diff (counts), first run", None),
    ("diff", "diff (counts), again", None),
    ("timeline_first", "timeline, first run", None),
    ("timeline", "timeline, again", None),
)


# -- synthetic population --------------------------------------------------------------


def insurer_id(index: int) -> str:
    """`ins-01` ... `ins-84`."""
    return f"ins-{index + 1:02d}"


def insurer_sizes(total: int, count: int = INSURERS, largest: float = LARGEST_SHARE) -> list[int]:
    """Zipf-like sizes (weight 1/rank^s, s chosen so the largest holds `largest`), in a
    shuffled order so that imports mix large and small insurers; each at least 1."""
    low, high = 0.0, 3.0
    for _ in range(60):
        s = (low + high) / 2
        weights = [1 / (rank**s) for rank in range(1, count + 1)]
        if weights[0] / sum(weights) < largest:
            low = s
        else:
            high = s
    shares = [w / sum(weights) for w in weights]
    sizes = [max(1, int(total * share)) for share in shares]
    sizes[0] += total - sum(sizes)
    random.Random(7).shuffle(sizes)
    return sizes


def nir_for(person: int) -> str:
    """A valid 15-character NIR, one per person number (sex, year, month, then 8 digits)."""
    first = f"{1 + person % 2}{person % 100:02d}{1 + (person // 100) % 12:02d}{person // 1200:08d}"
    return f"{first}{97 - int(first) % 97:02d}"


def has_nir(person: int) -> bool:
    """About half the rows carry a NIR (a fixed function of the row's person number)."""
    return (person * 2654435761 >> 11) % 1000 < NIR_SHARE * 1000


def generate(folder: Path, total: int, seed: int = 1) -> list[tuple[str, Path, int]]:
    """One CSV per insurer in `folder` (reused when already generated): (insurer, path, rows)."""
    sizes = insurer_sizes(total)
    manifest = folder / "manifest.json"
    wanted = {"version": GENERATOR_VERSION, "members": total, "seed": seed, "sizes": sizes}
    files = [(insurer_id(i), folder / f"{insurer_id(i)}.csv", size) for i, size in enumerate(sizes)]
    if manifest.exists() and json.loads(manifest.read_text()) == wanted and all(p.exists() for _, p, _ in files):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for index, (_, path, size) in enumerate(files):
        _write_roster(path, index, start, size, random.Random(seed * 1000 + index))
        start += size
    manifest.write_text(json.dumps(wanted))
    return files


def _write_roster(path: Path, index: int, start: int, size: int, rng: random.Random) -> None:
    """Families under a contract: a holder and 0-3 dependants, sorted by contract number."""
    plans = [f"P{index + 1:02d}{p:02d}" for p in range(12)]
    base = date(2000, 1, 1)
    lines: list[str] = []
    family = 0
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        while written < size:
            family += 1
            contract = f"{family * 7 + index:09d}"
            plan = plans[min(int(rng.expovariate(0.4)), len(plans) - 1)]
            joined = base + timedelta(days=rng.randrange(9000))
            people = min(size - written, 1 + min(int(rng.expovariate(0.9)), 3))
            for k in range(people):
                person = start + written
                nir = ""
                if has_nir(person):
                    if start > 0 and rng.random() < SHARED_NIR_SHARE:
                        other = rng.randrange(start)  # someone already enrolled at another insurer
                        while not has_nir(other):
                            other = (other + 1) % start
                        person = other
                    nir = nir_for(person)
                left = ""
                if rng.random() < 0.2:
                    left = (joined + timedelta(days=30 + rng.randrange(4000))).isoformat()
                role = "holder" if k == 0 else "dependant"
                lines.append(f"{contract}{k:02d},{role},{plan},{joined.isoformat()},{left},{nir}\n")
                written += 1
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


# -- raw baseline ------------------------------------------------------------------------


RAW_DDL: Final = """
CREATE TABLE IF NOT EXISTS raw (
    insurer TEXT NOT NULL, ref TEXT NOT NULL, role TEXT, contract TEXT,
    from_day TEXT, until_day TEXT, nir TEXT,
    PRIMARY KEY (insurer, ref)
) WITHOUT ROWID
"""


def raw_load(db_path: Path, files: list[tuple[str, Path, int]], key: bytes) -> float:
    """csv + HMAC-SHA256 + executemany into one WITHOUT ROWID table (WAL); seconds."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    cpu = time.process_time()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(RAW_DDL)
    sql = "INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?)"
    for insurer, path, _ in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[tuple[str, ...]] = []
            db.execute("BEGIN")
            for ref, role, contract, start, end, nir in reader:
                pseudonym = hmac.digest(key, nir.encode(), "sha256")[:16].hex() if nir else None
                batch.append((insurer, ref, role or None, contract or None, start or None, end or None, pseudonym))  # type: ignore[arg-type]
                if len(batch) >= RAW_BATCH:
                    db.executemany(sql, batch)
                    batch.clear()
            db.executemany(sql, batch)
            db.execute("COMMIT")
    db.close()
    RAW_CPU[0] = time.process_time() - cpu
    return time.perf_counter() - started


def raw_index(db_path: Path) -> float:
    """The NIR index on the raw table (for the lookup baseline); seconds."""
    started = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("CREATE INDEX IF NOT EXISTS raw_by_nir ON raw (nir) WHERE nir IS NOT NULL")
    db.close()
    return time.perf_counter() - started


def raw_lookups(db_path: Path, keys: list[tuple[str, str]], nirs: list[str]) -> tuple[float, float]:
    """Median seconds of one indexed lookup by (insurer, ref) and by NIR pseudonym."""
    db = sqlite3.connect(db_path, isolation_level=None)
    by_ref, by_nir = [], []
    for insurer, ref in keys:
        started = time.perf_counter()
        db.execute("SELECT * FROM raw WHERE insurer = ? AND ref = ?", (insurer, ref)).fetchall()
        by_ref.append(time.perf_counter() - started)
    for nir in nirs:
        started = time.perf_counter()
        db.execute("SELECT * FROM raw WHERE nir = ?", (nir,)).fetchall()
        by_nir.append(time.perf_counter() - started)
    db.close()
    return statistics.median(by_ref), statistics.median(by_nir)


def raw_export(db_path: Path, sink: Path) -> tuple[float, int]:
    """A raw SELECT of every member written as the same CSV as `members export` (constant
    incident, status and fields); (seconds, rows)."""
    started = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    rows = 0
    with sink.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_HEADER)
        cursor = db.execute(
            "SELECT ?, insurer, ref, role, contract, from_day, until_day, 'presumed', 'civil_status;nir',"
            " 'birth_month;birth_year;birthplace;sex', NULL FROM raw ORDER BY insurer, ref",
            (INCIDENT,),
        )
        while chunk := cursor.fetchmany(10_000):
            writer.writerows(chunk)
            rows += len(chunk)
    db.close()
    return time.perf_counter() - started, rows


# -- naive eventsourcing baseline ---------------------------------------------------------


def naive_eventsourcing(folder: Path, files: list[tuple[str, Path, int]], key: bytes, sample: int) -> tuple[float, int]:
    """One event per member through `Application.save()` (SQLite); (seconds, members)."""
    from eventsourcing.application import Application  # noqa: PLC0415 - only this baseline needs it
    from eventsourcing.domain import Aggregate  # noqa: PLC0415

    class Membership(Aggregate):  # type: ignore[misc]
        def __init__(self, insurer: str, ref: str, role: str, contract: str, start: str, end: str, nir: str) -> None:
            self.insurer, self.ref, self.role, self.contract = insurer, ref, role, contract
            self.start, self.end, self.nir = start, end, nir

    db_path = folder / "naive.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db_path)}
    app: Application[Any] = Application(env=env)
    done = 0
    started = time.perf_counter()
    for insurer, path, _ in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for ref, role, contract, start, end, nir in reader:
                pseudonym = hmac.digest(key, nir.encode(), "sha256")[:16].hex() if nir else ""
                app.save(Membership(insurer, ref, role, contract, start, end, pseudonym))
                done += 1
                if done >= sample:
                    break
        if done >= sample:
            break
    seconds = time.perf_counter() - started
    app.close()
    return seconds, done


# -- exposure, in a child process ------------------------------------------------------------


def is_postgres(ledger: str) -> bool:
    """Whether the ledger location names a PostgreSQL database."""
    return ledger.startswith(("postgresql://", "postgres://"))


def key_file(store_dir: Path) -> Path:
    """The store's key file, kept in the working folder whatever the backend."""
    return store_dir / "exposure.key"


def child_import(store_dir: Path, ledger: str, files_json: str, *, encrypt: bool = False) -> dict[str, Any]:
    """Import every roster into a new store (run in a child process); timings and peak memory."""
    from ledger import roster  # noqa: PLC0415 - imported in the child only
    from ledger.store import Store  # noqa: PLC0415

    files = json.loads(files_json)
    phases = {"check": 0.0, "append": 0.0, "catch_up": 0.0}

    async def go() -> dict[str, Any]:
        store, created = await Store.init(ledger, key_file(store_dir), timezone="Europe/Paris", encrypt=encrypt)
        if not created:
            await store.close()
            raise RuntimeError(f"{ledger} already holds a store: the benchmark needs an empty database")
        started = time.perf_counter()
        try:
            # Pipelined: the next rosters are checked while one is appended and the
            # earlier ones projected (`import_rosters`); one catch-up at the end.
            results = await roster.import_rosters(
                store, [(insurer, path) for insurer, path in files], known_on=KNOWN_ON, phases=phases
            )
        finally:
            await store.close()
            roster.WORKER_POOL.close()  # its workers' CPU time counts as the children's below
        rows = sum(int(result["rows"]) for result in results)
        facts = sum(int(result["facts"]) for result in results)
        return {"seconds": time.perf_counter() - started, "rows": rows, "facts": facts}

    out = asyncio.run(go())
    out["phases"] = phases
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out["maxrss_self_kib"] = me.ru_maxrss
    out["maxrss_children_kib"] = workers.ru_maxrss
    out["cpu_main_s"] = me.ru_utime + me.ru_stime
    out["cpu_workers_s"] = workers.ru_utime + workers.ru_stime
    return out


def run_import(
    store_dir: Path, ledger: str, files: list[tuple[str, Path, int]], *, encrypt: bool = False
) -> dict[str, Any]:
    """The import in a child process (so that its peak memory is its own; on PostgreSQL the
    server's memory is not counted)."""
    if store_dir.exists():
        shutil.rmtree(store_dir)
    store_dir.mkdir(parents=True)
    listing = json.dumps([(insurer, str(path)) for insurer, path, _ in files])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child-import",
                str(store_dir),
                ledger,
                listing,
                *(["--encrypt"] if encrypt else []),
            ],
            stdout=out,
            stderr=err,
        )
        peak_pss = 0
        while child.poll() is None:  # physical memory of the import and its workers, twice a second
            peak_pss = max(peak_pss, _tree_pss_kib(child.pid))
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"import child failed ({child.returncode}):\n{err.read().decode()[-4000:]}")
        result: dict[str, Any] = json.loads(out.read().decode().strip().splitlines()[-1])
    result["peak_pss_kib"] = peak_pss
    return result


def _tree_pss_kib(pid: int) -> int:
    """Proportional set size of a process and its children (shared pages counted once)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for one in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


# -- exposure, in process -----------------------------------------------------------------------


def _expect(condition: object, problem: str) -> None:
    if not condition:
        raise RuntimeError(problem)


def _store_bytes(ledger: str) -> int:
    if is_postgres(ledger):
        import psycopg  # noqa: PLC0415 - PostgreSQL runs only

        with psycopg.connect(ledger) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
    return sum(p.stat().st_size for p in Path(ledger).parent.glob(Path(ledger).name + "*"))


async def exposure_queries(
    store_dir: Path,
    ledger: str,
    files: list[tuple[str, Path, int]],
    lookups: int,
    export_sink: Path | None,
    *,
    rebuild: bool,
    out: dict[str, Any],
    stage: Callable[[str], None],
) -> dict[str, Any]:
    """Record an incident, then time lookups, summaries, the export and a rebuild (into `out`,
    calling `stage` after each step)."""
    from domain.nir import pseudonym  # noqa: PLC0415
    from ledger import roster  # noqa: PLC0415
    from ledger.store import Store  # noqa: PLC0415
    from projections import queries  # noqa: PLC0415

    store = await Store.open(ledger, key_file(store_dir))
    try:
        out["store_bytes_before_incident"] = _store_bytes(ledger)
        await _record_incident(store, [insurer for insurer, _, _ in files])

        keys, nirs = sample_members(files, lookups)
        h = await store.horizon()
        by_ref = []
        for insurer, ref in keys:
            started = time.perf_counter()
            found = msgspec.to_builtins(await queries.member(store.db, h, insurer_id=insurer, ref=ref))
            by_ref.append(time.perf_counter() - started)
            _expect(found["memberships"], f"no membership for {insurer} {ref}")
        by_nir = []
        for nir in nirs:
            hashed = pseudonym(nir, store.keys.nir_key)
            started = time.perf_counter()
            found = msgspec.to_builtins(await queries.member(store.db, h, nir_pseudonym=hashed))
            by_nir.append(time.perf_counter() - started)
            _expect(found["memberships"], "no membership for a sampled NIR")
        out["lookup_ref_s"] = statistics.median(by_ref)
        out["lookup_nir_s"] = statistics.median(by_nir)
        stage(f"lookups {out['lookup_ref_s'] * 1000:.3f} ms by ref, {out['lookup_nir_s'] * 1000:.3f} ms by NIR")

        started = time.perf_counter()
        h = await store.horizon()
        summary = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
        out["summary_cold_s"] = time.perf_counter() - started
        warm = []
        for _ in range(5):
            started = time.perf_counter()
            h = await store.horizon()
            again = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
            warm.append(time.perf_counter() - started)
            _expect(again["members"] == summary["members"], "the warm summary differs from the cold one")
        out["summary_warm_s"] = statistics.median(warm)
        out["summary_members"] = summary["members"]
        stage(f"summary cold {out['summary_cold_s']:.2f} s, warm {out['summary_warm_s'] * 1000:.1f} ms")

        if export_sink is None:
            out["store_bytes"] = _store_bytes(ledger)
        else:
            started = time.perf_counter()
            with export_sink.open("w", encoding="utf-8", newline="") as sink:
                out["export_rows"] = await roster.export(store, INCIDENT, h, None, "csv", sink)
            out["export_s"] = time.perf_counter() - started
            out["store_bytes"] = _store_bytes(ledger)  # before `stage`, which reads it
            stage(f"export {out['export_rows']:,} rows in {out['export_s']:.1f} s")

        if rebuild:
            started = time.perf_counter()
            await store.rebuild()
            out["rebuild_s"] = time.perf_counter() - started
            stage(f"rebuild {out['rebuild_s']:.1f} s")
            h = await store.horizon()
            after = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
            _expect(after["members"] == summary["members"], f"rebuilt: {after['members']} != {summary['members']}")
    finally:
        await store.close()
    return out


async def _record_incident(store: Any, insurers: list[str]) -> None:
    """An incident with every insurer affected, a scope on a few and some exposed fields."""
    facts: list[tuple[str, object]] = [
        (
            "",
            {
                "kind": "attack-discovered",
                "incident": INCIDENT,
                "operator": "Bench",
                "occurred_on": "2024-01-20",
                "known_on": "2024-01-25",
            },
        ),
        (
            "",
            {
                "kind": "field-ruled-in",
                "incident": INCIDENT,
                "categories": ["civil_status", "nir"],
                "known_on": "2024-02-01",
            },
        ),
    ]
    for insurer in insurers:
        facts.append(
            (
                "",
                {
                    "kind": "insurer-confirmed-affected",
                    "incident": INCIDENT,
                    "insurer": insurer,
                    "known_on": "2024-02-01",
                },
            )
        )
    for index, insurer in enumerate(insurers[:SCOPED]):
        scope: dict[str, object] = {
            "kind": "scope-defined",
            "incident": INCIDENT,
            "insurer": insurer,
            "known_on": "2024-02-02",
        }
        scope.update(
            [{"roles": ["holder"]}, {"enrolled_from": "2010-01-01"}, {"contracts": [f"P{index + 1:02d}00"]}][index % 3]
        )
        facts.append(("", scope))
    await store.append(facts, by="bench")


def sample_members(files: list[tuple[str, Path, int]], count: int) -> tuple[list[tuple[str, str]], list[str]]:
    """`count` (insurer, ref) keys and `count` raw NIRs, spread over the insurers."""
    rng = random.Random(3)
    keys: list[tuple[str, str]] = []
    nirs: list[str] = []
    chosen = rng.sample(files, min(len(files), 12))
    per_file = max(1, count // len(chosen) + 1)
    for insurer, path, _ in chosen:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for n, row in enumerate(reader):
                if n % 97 == 5 and len([k for k in keys if k[0] == insurer]) < per_file:
                    keys.append((insurer, row[0]))
                    if row[5]:
                        nirs.append(row[5])
                if n > 97 * per_file * 2:
                    break
    return keys[:count], (nirs or [nir_for(0)])[:count]


# -- report -----------------------------------------------------------------------------------


def verdict(name: str, value: float) -> str:
    op, target = TARGETS[name]
    ok = {"<": value < target, "<=": value <= target, ">=": value >= target}[op]
    return f"{'ok  ' if ok else 'MISS'} (target {op} {target:g})"


def _ratio(name: str, value: float, what: str) -> str:
    return f"x{value:.2f} {what} {verdict(name, value)}"


def table(r: dict[str, Any]) -> str:
    """The figures as a plain-text table (one line per measurement)."""
    n = r["members"]
    phases = r["phases"]
    rows: list[tuple[str, str, str]] = [
        (
            "members / insurers",
            f"{n:,} / {r['insurers']}",
            f"largest {r['largest']:,}, NIR rows {r['nir_rows']:,}; ledger on {r.get('backend', 'sqlite')}",
        ),
        (
            "raw load (csv+HMAC+executemany)",
            f"{r['raw_rate']:,.0f} members/s",
            f"{r['raw_s']:.1f} s, CPU {r['raw_cpu_s']:.1f} s",
        ),
        (
            "exposure members import",
            f"{r['import_rate']:,.0f} members/s",
            f"{r['import_s']:.1f} s; " + _ratio("import_vs_raw", r["import_vs_raw"], "raw"),
        ),
        (
            "  phases",
            "",
            f"check {phases['check']:.1f} s, append {phases['append']:.1f} s, catch-up {phases['catch_up']:.1f} s",
        ),
        (
            "  CPU",
            "",
            (
                f"{r['import_cpu_s']:.1f} s (main {r['import_cpu_main_s']:.1f} s); "
                f"raw/import CPU x{r['import_vs_raw_cpu']:.2f}"
            ),
        ),
    ]
    if "naive_rate" in r:
        rows += [
            (
                "naive eventsourcing (1 event/member)",
                f"{r['naive_rate']:,.0f} members/s",
                (
                    f"sample {r['naive_sample']:,}, extrapolated {r['naive_extrapolated_s']:,.0f} s; "
                    f"import is x{r['import_vs_naive']:.1f}"
                ),
            ),
        ]
    rows.append(
        (
            "peak memory of the import (PSS)",
            f"{r['peak_memory_gib']:.2f} GiB",
            f"ru_maxrss: main {r['maxrss_main_mib']:.0f} MiB, a worker {r['maxrss_worker_mib']:.0f} MiB "
            + verdict("peak_memory_gib", r["peak_memory_gib"]),
        )
    )
    if "lookup_ref_ms" in r:
        rows += [
            (
                "lookup by insurer+ref",
                f"{r['lookup_ref_ms']:.3f} ms",
                f"raw {r['raw_lookup_ref_ms']:.3f} ms; " + _ratio("lookup_ref_vs_raw", r["lookup_ref_vs_raw"], "raw"),
            ),
            (
                "lookup by NIR",
                f"{r['lookup_nir_ms']:.3f} ms",
                f"raw {r['raw_lookup_nir_ms']:.3f} ms; " + _ratio("lookup_nir_vs_raw", r["lookup_nir_vs_raw"], "raw"),
            ),
            (
                "summary, cold (no cached counts)",
                f"{r['summary_cold_ms']:,.0f} ms",
                verdict("summary_cold_ms", r["summary_cold_ms"]),
            ),
            ("summary, warm", f"{r['summary_warm_ms']:,.1f} ms", verdict("summary_warm_ms", r["summary_warm_ms"])),
            (
                "members export (CSV)",
                f"{r['export_rate']:,.0f} rows/s",
                f"{r['export_rows']:,} rows; raw SELECT {r['raw_export_rate']:,.0f} rows/s; "
                + _ratio("export_vs_raw", r["export_vs_raw"], "raw"),
            ),
        ]
    if "rebuild_rate" in r:
        rows.append(
            (
                "projection rebuild",
                f"{r['rebuild_rate']:,.0f} members/s",
                f"{r['rebuild_s']:.1f} s; " + _ratio("rebuild_vs_import", r["rebuild_vs_import"], "import"),
            )
        )
    if "bytes_per_member" in r:
        rows.append(
            (
                "store bytes per member",
                f"{r['bytes_per_member']:,.0f} B",
                f"store {r['store_bytes'] / GIB:.2f} GiB; raw table {r['raw_bytes_per_member']:,.0f} B/member",
            )
        )
    if "replay_s" in r:
        rows.append(
            (
                "audit replay, whole process",
                f"{r['replay_s']:,.1f} s",
                f"CPU {r['replay_cpu_s']:,.1f} s, peak {r['replay_maxrss_mib']:,.0f} MiB; "
                + _ratio("replay_vs_import", r["replay_vs_import"], "the import"),
            )
        )
    for key, label, target in PROCESS_ROWS:
        if key in r.get("processes", {}):
            figure = r["processes"][key]
            note = f"CPU {figure['cpu_ms']:,.0f} ms; python -c pass {r['processes']['python']['wall_ms']:,.0f} ms"
            rows.append(
                (
                    label,
                    f"{figure['wall_ms']:,.0f} ms",
                    note + (" " + verdict(target, figure["wall_ms"]) if target else ""),
                )
            )
    width = max(len(a) for a, _, _ in rows)
    vwidth = max(len(b) for _, b, _ in rows)
    return "\n".join(f"{a:<{width}}  {b:>{vwidth}}  {c}" for a, b, c in rows)


def benchmark(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    n = args.members
    work = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="exposure-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {"members": n, "insurers": INSURERS, "command": " ".join(sys.argv), "cpus": os.cpu_count()}
    store_dir = work / "store"
    ledger = args.ledger or str(store_dir / "exposure.db")
    r["backend"] = "postgresql" if is_postgres(ledger) else "sqlite"
    partial = Path(args.json_out).with_suffix(".partial.json") if args.json_out else None

    def say_and_keep(line: str) -> None:
        say(line)
        if partial is not None:  # a long run leaves its figures so far
            partial.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")

    started = time.perf_counter()
    files = generate(work / f"rosters-{n}", n)
    r["generate_s"] = time.perf_counter() - started
    r["largest"] = max(size for _, _, size in files)
    say_and_keep(f"generated {n:,} members in {len(files)} files ({r['generate_s']:.1f} s)")
    key = hashlib.sha256(b"bench").digest()

    raw_db = work / "raw.db"
    r["raw_s"] = raw_load(raw_db, files, key)
    r["raw_rate"] = n / r["raw_s"]
    r["raw_cpu_s"] = RAW_CPU[0]
    r["raw_index_s"] = raw_index(raw_db)
    raw_files = [Path(f"{raw_db}{suffix}") for suffix in ("", "-wal")]
    r["raw_bytes_per_member"] = sum(p.stat().st_size for p in raw_files if p.exists()) / n
    with contextlib.closing(sqlite3.connect(raw_db)) as db:
        r["nir_rows"] = db.execute("SELECT COUNT(*) FROM raw WHERE nir IS NOT NULL").fetchone()[0]
    say_and_keep(f"raw load {r['raw_s']:.1f} s ({r['raw_rate']:,.0f}/s), NIR index {r['raw_index_s']:.1f} s")

    imported = run_import(store_dir, ledger, files)
    r["import_s"] = imported["seconds"]
    r["import_rate"] = n / r["import_s"]
    r["import_vs_raw"] = r["import_rate"] / r["raw_rate"]
    r["phases"] = imported["phases"]
    r["import_cpu_s"] = imported["cpu_main_s"] + imported["cpu_workers_s"]
    r["import_cpu_main_s"] = imported["cpu_main_s"]
    r["import_vs_raw_cpu"] = r["raw_cpu_s"] / r["import_cpu_s"]
    r["facts"] = imported["facts"]
    r["workers"] = 2 if (os.cpu_count() or 1) > 1 else 0
    r["maxrss_main_mib"] = imported["maxrss_self_kib"] / 1024
    r["maxrss_worker_mib"] = imported["maxrss_children_kib"] / 1024
    # Workers are forked: their ru_maxrss counts the pages they share with the main process,
    # so the peak is the sampled PSS of the whole process tree (each page counted once).
    r["maxrss_sum_gib"] = (imported["maxrss_self_kib"] + r["workers"] * imported["maxrss_children_kib"]) / 1024**2
    r["peak_memory_gib"] = imported["peak_pss_kib"] / 1024**2
    if imported["rows"] != n:
        raise RuntimeError(f"imported {imported['rows']} rows, expected {n}")
    say_and_keep(f"import {r['import_s']:.1f} s ({r['import_rate']:,.0f}/s), phases {r['phases']}")

    if args.import_only:
        return r
    sample = min(args.naive_sample, n)
    naive_s, naive_n = naive_eventsourcing(work, files, key, sample)
    r["naive_sample"] = naive_n
    r["naive_rate"] = naive_n / naive_s
    r["naive_extrapolated_s"] = n / r["naive_rate"]
    r["import_vs_naive"] = r["import_rate"] / r["naive_rate"]
    say_and_keep(f"naive eventsourcing {r['naive_rate']:,.0f}/s")

    keys, nirs = sample_members(files, args.lookups)
    raw_ref, raw_nir = raw_lookups(raw_db, keys, [hmac.digest(key, x.encode(), "sha256")[:16].hex() for x in nirs])
    r["raw_lookup_ref_ms"], r["raw_lookup_nir_ms"] = raw_ref * 1000, raw_nir * 1000
    raw_export_s, raw_rows = raw_export(raw_db, work / "raw-export.csv")
    r["raw_export_rate"] = raw_rows / raw_export_s
    say_and_keep(f"raw lookups {raw_ref * 1000:.3f}/{raw_nir * 1000:.3f} ms, raw export {r['raw_export_rate']:,.0f}/s")

    q: dict[str, Any] = {}

    def stage(line: str) -> None:
        if "lookup_ref_s" in q:
            r["lookup_ref_ms"], r["lookup_nir_ms"] = q["lookup_ref_s"] * 1000, q["lookup_nir_s"] * 1000
            r["lookup_ref_vs_raw"] = r["lookup_ref_ms"] / r["raw_lookup_ref_ms"]
            r["lookup_nir_vs_raw"] = r["lookup_nir_ms"] / r["raw_lookup_nir_ms"]
        if "summary_warm_s" in q:
            r["summary_cold_ms"], r["summary_warm_ms"] = q["summary_cold_s"] * 1000, q["summary_warm_s"] * 1000
            r["summary_members"] = q["summary_members"]
        if "export_s" in q:
            r["export_rows"] = q["export_rows"]
            r["export_rate"] = q["export_rows"] / q["export_s"]
            r["export_vs_raw"] = r["export_rate"] / r["raw_export_rate"]
            r["store_bytes"] = q["store_bytes"]
            r["bytes_per_member"] = q["store_bytes"] / n
        if "rebuild_s" in q:
            r["rebuild_s"] = q["rebuild_s"]
            r["rebuild_rate"] = n / q["rebuild_s"]
            r["rebuild_vs_import"] = r["rebuild_rate"] / r["import_rate"]
        say_and_keep(line)

    export_sink = work / "export.csv"
    rebuild = not args.no_rebuild
    asyncio.run(
        exposure_queries(store_dir, ledger, files, args.lookups, export_sink, rebuild=rebuild, out=q, stage=stage)
    )
    if not is_postgres(ledger):
        from benchmarks import commands  # noqa: PLC0415 - a script folder, importable once ROOT is on the path

        r["processes"] = commands.measure(work, runs=1 if args.quick else args.runs, quick=args.quick)
        say_and_keep(f"whole processes: {commands.table(r['processes'])}")
    if not args.no_replay:  # the whole `audit replay` (verify, rebuild, compare), its lines of progress kept
        r["load_before_replay"] = os.getloadavg()[0]
        replayed = _cli_peak(
            store_dir, ledger, ["audit", "replay", "--json", "--progress"], work / "replay.json", work / "replay.log"
        )
        r["replay_s"], r["replay_cpu_s"], r["replay_maxrss_mib"] = (
            replayed["seconds"],
            replayed["cpu_s"],
            replayed["maxrss_mib"],
        )
        r["replay_vs_import"] = r["replay_s"] / r["import_s"]
        r["load_after_replay"] = os.getloadavg()[0]
        say_and_keep(f"audit replay {r['replay_s']:.1f} s ({r['replay_vs_import']:.2f}x the import)")
    r["total_s"] = time.perf_counter() - started
    if not args.store and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return r


def query_figures(
    store_dir: Path,
    ledger: str,
    files: list[tuple[str, Path, int]],
    lookups: int,
    sink: Path | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """`exposure_queries` without the rebuild, as milliseconds and rates (no export without a `sink`)."""
    q: dict[str, Any] = {}
    asyncio.run(exposure_queries(store_dir, ledger, files, lookups, sink, rebuild=False, out=q, stage=say))
    exported = {"export_rate": q["export_rows"] / q["export_s"], "export_rows": q["export_rows"]} if sink else {}
    return {
        "lookup_ref_ms": q["lookup_ref_s"] * 1000,
        "lookup_nir_ms": q["lookup_nir_s"] * 1000,
        "summary_cold_ms": q["summary_cold_s"] * 1000,
        "summary_warm_ms": q["summary_warm_s"] * 1000,
        **exported,
        "store_bytes": q["store_bytes"],
        "summary_members": q["summary_members"],
    }


def encryption_benchmark(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """The same population imported and queried on a store kept in clear and on an encrypted
    one (`init --encrypt`: SQLCipher), one after the other in the same run."""
    n = args.members
    work = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="exposure-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {"members": n, "command": " ".join(sys.argv), "cpus": os.cpu_count()}
    files = generate(work / f"rosters-{n}", n)
    say(f"generated {n:,} members in {len(files)} files")
    for mode in ("plain", "encrypted"):
        store_dir = work / f"store-{mode}"
        ledger = str(store_dir / "exposure.db")
        imported = run_import(store_dir, ledger, files, encrypt=mode == "encrypted")
        _expect(imported["rows"] == n, f"imported {imported['rows']} rows, expected {n}")
        m: dict[str, Any] = {"import_s": imported["seconds"], "import_rate": n / imported["seconds"]}
        m["load_after_import"] = os.getloadavg()[1]  # the machine is shared: say how loaded it was
        m["peak_memory_gib"] = imported["peak_pss_kib"] / 1024**2
        say(f"{mode}: import {m['import_s']:.1f} s ({m['import_rate']:,.0f}/s)")
        m |= query_figures(store_dir, ledger, files, args.lookups, work / f"export-{mode}.csv", say)
        m["load_after_queries"] = os.getloadavg()[1]
        r[mode] = m
    plain, sealed = r["plain"], r["encrypted"]
    _expect(plain["summary_members"] == sealed["summary_members"], "the encrypted store counts differently")
    _expect(plain["export_rows"] == sealed["export_rows"], "the encrypted store exports differently")
    r["ratios"] = {
        "import": sealed["import_rate"] / plain["import_rate"],
        "lookup_ref": sealed["lookup_ref_ms"] / plain["lookup_ref_ms"],
        "lookup_nir": sealed["lookup_nir_ms"] / plain["lookup_nir_ms"],
        "summary_cold": sealed["summary_cold_ms"] / plain["summary_cold_ms"],
        "summary_warm": sealed["summary_warm_ms"] / plain["summary_warm_ms"],
        "export": sealed["export_rate"] / plain["export_rate"],
        "store_bytes": sealed["store_bytes"] / plain["store_bytes"],
    }
    if not args.store and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return r


def encryption_table(r: dict[str, Any]) -> str:
    """Plain against encrypted, with the ratio and its target."""
    plain, sealed, ratio = r["plain"], r["encrypted"], r["ratios"]
    rows = [
        (
            "import (members/s)",
            f"{plain['import_rate']:,.0f}",
            f"{sealed['import_rate']:,.0f}",
            ratio["import"],
            ">= 0.7x",
        ),
        (
            "lookup by ref (ms)",
            f"{plain['lookup_ref_ms']:.3f}",
            f"{sealed['lookup_ref_ms']:.3f}",
            ratio["lookup_ref"],
            "<= 1.5x",
        ),
        (
            "lookup by NIR (ms)",
            f"{plain['lookup_nir_ms']:.3f}",
            f"{sealed['lookup_nir_ms']:.3f}",
            ratio["lookup_nir"],
            "<= 1.5x",
        ),
        (
            "summary cold (ms)",
            f"{plain['summary_cold_ms']:.1f}",
            f"{sealed['summary_cold_ms']:.1f}",
            ratio["summary_cold"],
            "",
        ),
        (
            "summary warm (ms)",
            f"{plain['summary_warm_ms']:.1f}",
            f"{sealed['summary_warm_ms']:.1f}",
            ratio["summary_warm"],
            "",
        ),
        ("export (rows/s)", f"{plain['export_rate']:,.0f}", f"{sealed['export_rate']:,.0f}", ratio["export"], ""),
        ("store (bytes)", f"{plain['store_bytes']:,}", f"{sealed['store_bytes']:,}", ratio["store_bytes"], ""),
    ]
    lines = [f"{r['members']:,} members: plain / encrypted (SQLCipher)"]
    lines.append(
        f"load average (5 min) after import: {plain['load_after_import']:.1f} / {sealed['load_after_import']:.1f},"
        f" after queries: {plain['load_after_queries']:.1f} / {sealed['load_after_queries']:.1f}"
    )
    lines += [f"{name:<20} {a:>14} {b:>14} {x:6.2f}x  {target}" for name, a, b, x, target in rows]
    return "\n".join(lines)


def _hwm_kib(pid: int) -> int:
    """The peak resident memory of a running process since its exec (VmHWM)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _cli_peak(store_dir: Path, ledger: str, args: list[str], sink: Path, log: Path | None = None) -> dict[str, float]:
    """One `exposure` process: its wall time, its CPU and its peak resident memory, its
    standard output written to `sink` (its standard error to `log`, if given). The peak is
    VmHWM sampled ten times a second: wait4's ru_maxrss would report this benchmark's own peak, which a child started by
    vfork inherits at exec."""
    command = [
        str(Path(sys.executable).parent / "exposure"),
        "--store",
        ledger,
        "--key-file",
        str(key_file(store_dir)),
        *args,
    ]
    server_before = server_cpu_s(ledger) if is_postgres(ledger) else 0.0
    started = time.perf_counter()
    peak = 0
    with sink.open("wb") as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _hwm_kib(child.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        err.seek(0)
        errors = err.read().decode()
    if log is not None:
        log.write_text(errors, encoding="utf-8")
    _expect(os.waitstatus_to_exitcode(status) == 0, f"exposure {' '.join(args)} failed: {errors[-2000:]}")
    server = server_cpu_s(ledger) - server_before if is_postgres(ledger) else 0.0
    return {
        "seconds": seconds,
        "maxrss_mib": peak / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime + server,
    }


def server_cpu_s(url: str) -> float:
    """CPU seconds used so far by the local PostgreSQL server of `url`: its postmaster's reaped
    children (ended backends) and every process it runs now (backends, WAL writer, checkpointer).
    CPU time is what a loaded, shared machine does not inflate as it does wall time."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url) as conn:  # read the backend's parent while the backend lives
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    own = fields(postmaster)
    total = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
        with contextlib.suppress(OSError):
            total += sum(int(v) for v in fields(int(child))[11:13])
    return total / tick


def backends_benchmark(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """The same population imported and queried on SQLite and on the PostgreSQL database
    `--ledger`, one after the other in the same run: import (and its members catch-up),
    lookups, summaries, export, and the peak memory of `members export` and `audit replay`
    as whole processes."""
    n = args.members
    work = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="exposure-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {"members": n, "command": " ".join(sys.argv), "cpus": os.cpu_count()}
    partial = Path(args.json_out).with_suffix(".partial.json") if args.json_out else None
    files = generate(work / f"rosters-{n}", n)
    say(f"generated {n:,} members in {len(files)} files")
    for backend in ("postgresql",) if args.postgresql_only else ("sqlite", "postgresql"):
        store_dir = work / f"store-{backend}"
        ledger = args.ledger if backend == "postgresql" else str(store_dir / "exposure.db")
        load_before = os.getloadavg()[1]
        server_before = server_cpu_s(ledger) if backend == "postgresql" else 0.0
        imported = run_import(store_dir, ledger, files)
        server_cpu = server_cpu_s(ledger) - server_before if backend == "postgresql" else 0.0
        _expect(imported["rows"] == n, f"imported {imported['rows']} rows, expected {n}")
        m: dict[str, Any] = {
            "import_s": imported["seconds"],
            "import_rate": n / imported["seconds"],
            "phases": imported["phases"],
            "import_peak_gib": imported["peak_pss_kib"] / 1024**2,
            "import_cpu_s": imported["cpu_main_s"] + imported["cpu_workers_s"] + server_cpu,
            "import_server_cpu_s": server_cpu,
            "load_during_import": (load_before + os.getloadavg()[1]) / 2,
        }
        say(f"{backend}: import {m['import_s']:.1f} s ({m['import_rate']:,.0f}/s), phases {m['phases']}")
        sink = None if args.no_export else work / f"export-{backend}.csv"
        m |= query_figures(store_dir, ledger, files, args.lookups, sink, say)
        if not args.no_export:
            exported = _cli_peak(
                store_dir, ledger, ["members", "export", "--incident", INCIDENT], work / "export-cli.csv"
            )
            m["export_cli_s"], m["export_cli_maxrss_mib"] = exported["seconds"], exported["maxrss_mib"]
            m["export_cli_cpu_s"] = exported["cpu_s"]
            say(
                f"{backend}: exposure members export {exported['seconds']:.1f} s, peak {exported['maxrss_mib']:.0f} MiB"
            )
        if not args.no_replay and not (backend == "sqlite" and args.no_sqlite_replay):
            replayed = _cli_peak(store_dir, ledger, ["audit", "replay", "--json"], work / "replay.json")
            m["replay_s"], m["replay_maxrss_mib"] = replayed["seconds"], replayed["maxrss_mib"]
            m["replay_cpu_s"] = replayed["cpu_s"]
            say(f"{backend}: exposure audit replay {replayed['seconds']:.1f} s, peak {replayed['maxrss_mib']:.0f} MiB")
        m["load_after"] = os.getloadavg()[1]
        r[backend] = m
        if partial is not None:
            partial.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    if args.postgresql_only:
        return r
    lite, pg = r["sqlite"], r["postgresql"]
    _expect(lite["summary_members"] == pg["summary_members"], "PostgreSQL counts differently")
    _expect(lite["export_rows"] == pg["export_rows"], "PostgreSQL exports differently")
    r["ratios"] = {
        "import": pg["import_rate"] / lite["import_rate"],
        "import_cpu": lite["import_cpu_s"] / pg["import_cpu_s"],
        "catch_up": pg["phases"]["catch_up"] / lite["phases"]["catch_up"],
        "export": pg["export_rate"] / lite["export_rate"],
    }
    if not args.store and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return r


def backends_table(r: dict[str, Any]) -> str:
    """SQLite against PostgreSQL, with the ratio and its target."""
    lite, pg, ratio = r["sqlite"], r["postgresql"], r["ratios"]
    rows: list[tuple[str, str, str, str, str]] = [
        (
            "import (members/s)",
            f"{lite['import_rate']:,.0f}",
            f"{pg['import_rate']:,.0f}",
            f"{ratio['import']:.2f}x",
            ">= 1.0x",
        ),
        (
            "import CPU, client + server (s)",
            f"{lite['import_cpu_s']:.1f}",
            f"{pg['import_cpu_s']:.1f}",
            f"{ratio['import_cpu']:.2f}x",
            ">= 1.0x (SQLite CPU / PG CPU)",
        ),
        (
            "members catch-up (s)",
            f"{lite['phases']['catch_up']:.1f}",
            f"{pg['phases']['catch_up']:.1f}",
            f"{ratio['catch_up']:.2f}x",
            "<= 1.0x",
        ),
        ("import peak PSS (GiB)", f"{lite['import_peak_gib']:.2f}", f"{pg['import_peak_gib']:.2f}", "", "client only"),
        ("lookup by ref (ms)", f"{lite['lookup_ref_ms']:.3f}", f"{pg['lookup_ref_ms']:.3f}", "", "<= 1 ms"),
        ("lookup by NIR (ms)", f"{lite['lookup_nir_ms']:.3f}", f"{pg['lookup_nir_ms']:.3f}", "", "<= 1 ms"),
        ("summary cold (ms)", f"{lite['summary_cold_ms']:.1f}", f"{pg['summary_cold_ms']:.1f}", "", ""),
        ("summary warm (ms)", f"{lite['summary_warm_ms']:.1f}", f"{pg['summary_warm_ms']:.1f}", "", ""),
        ("export (rows/s)", f"{lite['export_rate']:,.0f}", f"{pg['export_rate']:,.0f}", f"{ratio['export']:.2f}x", ""),
        (
            "members export CPU (s)",
            f"{lite['export_cli_cpu_s']:.1f}",
            f"{pg['export_cli_cpu_s']:.1f}",
            "",
            "client + server",
        ),
        (
            "members export peak (MiB)",
            f"{lite['export_cli_maxrss_mib']:.0f}",
            f"{pg['export_cli_maxrss_mib']:.0f}",
            "",
            "flat in N",
        ),
    ]
    if "replay_s" in pg:

        def replay(m: dict[str, Any], key: str, shown: str) -> str:
            return format(m[key], shown) if key in m else "-"

        rows += [
            ("audit replay (s)", replay(lite, "replay_s", ".1f"), replay(pg, "replay_s", ".1f"), "", ""),
            (
                "audit replay CPU (s)",
                replay(lite, "replay_cpu_s", ".1f"),
                replay(pg, "replay_cpu_s", ".1f"),
                "",
                "client + server",
            ),
            (
                "audit replay peak (MiB)",
                replay(lite, "replay_maxrss_mib", ".0f"),
                replay(pg, "replay_maxrss_mib", ".0f"),
                "",
                "flat in N",
            ),
        ]
    rows.append(
        (
            "store (bytes/member)",
            f"{lite['store_bytes'] / r['members']:.0f}",
            f"{pg['store_bytes'] / r['members']:.0f}",
            "",
            "",
        )
    )
    heading = (
        f"{r['members']:,} members: SQLite / PostgreSQL; load average during the imports "
        f"{lite['load_during_import']:.1f} / {pg['load_during_import']:.1f}"
    )
    lines = [heading]
    lines += [f"{name:<32} {a:>12} {b:>12} {x:>7}  {target}" for name, a, b, x, target in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, help="population size (default 1,000,000; 3,000 with --quick)")
    parser.add_argument("--store", help="working folder (kept; rosters are reused across runs)")
    parser.add_argument(
        "--ledger", help="exposure's store: an SQLite file (default: in the working folder) or a PostgreSQL URL"
    )
    parser.add_argument("--quick", action="store_true", help="a few thousand members, small samples (CI)")
    parser.add_argument("--json-out", help="write the figures as JSON to this file")
    parser.add_argument("--naive-sample", type=int, default=20_000, help="members saved one event each")
    parser.add_argument("--lookups", type=int, default=200, help="lookups per kind (median reported)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the projection rebuild")
    parser.add_argument("--runs", type=int, default=5, help="processes per command (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    parser.add_argument("--import-only", action="store_true", help="stop after the raw load and the import")
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help="plain against encrypted (SQLCipher) stores in one run: import, lookups, summaries, export",
    )
    parser.add_argument("--no-replay", action="store_true", help="skip the `audit replay` processes")
    parser.add_argument(
        "--no-sqlite-replay",
        action="store_true",
        help="with a PostgreSQL --ledger: replay the PostgreSQL store only (its peak memory at 20 M)",
    )
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="with a PostgreSQL --ledger and --postgresql-only: import, lookups and summaries only",
    )
    parser.add_argument(
        "--postgresql-only",
        action="store_true",
        help="with a PostgreSQL --ledger: leave out the SQLite half (at 20 M, compare with a kept SQLite run)",
    )
    parser.add_argument(
        "--child-import", nargs=3, metavar=("STORE_DIR", "LEDGER", "FILES_JSON"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child_import:
        store_dir, ledger, listing = args.child_import
        print(json.dumps(child_import(Path(store_dir), ledger, listing, encrypt=args.encrypt)))
        return 0
    if args.no_export and not args.postgresql_only:
        parser.error("--no-export goes with --postgresql-only (the side-by-side table compares the exports)")
    if args.members is None:
        args.members = 3_000 if args.quick else 1_000_000
    if args.quick:
        args.naive_sample = min(args.naive_sample, 500)
        args.lookups = min(args.lookups, 20)

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    if args.encrypt:
        results = encryption_benchmark(args, say)
        print(encryption_table(results))
    elif args.ledger and is_postgres(args.ledger):
        results = backends_benchmark(args, say)
        print(json.dumps(results, indent=2) if args.postgresql_only else backends_table(results))
    else:
        results = benchmark(args, say)
        print(table(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
