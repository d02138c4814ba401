"""Writers during a roster import, on PostgreSQL: does `exposure record` stay interactive?

    python benchmarks/pg_writers.py --ledger postgresql://bench@/bench --members 1000000
    python benchmarks/pg_writers.py --members 20000       # starts a throw-away server

While `exposure members import` loads a roster of N members into the store, W processes
(default 4) each run `exposure record insurer-informed ...` in a loop, every call a whole
`exposure` process, as a person or a script would (`--code DIR`: from that checkout's code,
its bytecode cached as `benchmarks/commands.py` does; the import always runs the installed
code). Prints the p50 and maximum time of a `record` (whole process, and the same without
the import running as the baseline measured in the same run) and its CPU seconds (the
import's own CPU taken out), then checks that nothing was lost (every recorded id is in the ledger)
and that positions are dense (`exposure audit verify`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

EXPOSURE: Final = str(Path(sys.executable).with_name("exposure"))
INCIDENT: Final = "bench-2024-01"


ENTRY: Final = "import sys; from cli.main import main; sys.exit(main())"
CODE: dict[str, Path] = {}
"""`--code DIR`: the checkout whose code the `record` processes run (default: the installed `exposure`)."""


def command(store: str, *args: str) -> tuple[list[str], dict[str, str] | None]:
    """argv and environment of one `exposure` process (`--code`: another checkout's code)."""
    if "code" not in CODE:
        return [EXPOSURE, "--store", store, *args], None
    from benchmarks.commands import child_env  # noqa: PLC0415 - a script folder, importable once ROOT is on the path

    return [sys.executable, "-c", ENTRY, "--store", store, *args], child_env(CODE["code"])


def exposure(folder: Path, store: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv, env = command(store, *args)
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"exposure {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def cpu_of_children() -> float:
    """CPU seconds of every child process waited for so far (the writers' `record` processes)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def write_roster(path: Path, members: int) -> None:
    from cli.commands.demo_roster import write_roster_csv  # noqa: PLC0415

    rows = (
        {"ref": f"R{i:09d}", "role": "holder" if i % 3 else "dependant", "contract": "AB"[i % 2]}
        for i in range(members)
    )
    write_roster_csv(path, rows)


def writer(folder: Path, store: str, name: str, stop: threading.Event, times: list[float], ids: list[str]) -> None:
    i = 0
    while not stop.is_set():
        fact_id = f"{name}-{i}"
        started = time.perf_counter()
        exposure(
            folder, store, "record", "insurer-informed", "--incident", INCIDENT, "--insurer", f"ins-{name}",
            "--known-on", "2024-02-01", "--id", fact_id,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        ids.append(fact_id)
        i += 1


IMPORT_KNOWN_ON: Final = ("--known-on", "2024-01-01")
IMPORTER_CPU: list[float] = []
"""CPU seconds of the roster import process (a child too: taken out of the writers' figure)."""


def run_writers(
    folder: Path, store: str, count: int, seconds: float | None, until: subprocess.Popen[str] | None
) -> tuple[list[float], list[str]]:
    stop = threading.Event()
    times: list[float] = []
    ids: list[str] = []
    threads = [
        threading.Thread(target=writer, args=(folder, store, f"w{k}{'i' if until else 'b'}", stop, times, ids))
        for k in range(count)
    ]
    for thread in threads:
        thread.start()
    if until is not None:  # reaped here, so that its CPU can be told from the writers' (`IMPORTER_CPU`)
        _, status, usage = os.wait4(until.pid, 0)
        until.returncode = os.waitstatus_to_exitcode(status)
        IMPORTER_CPU.append(usage.ru_utime + usage.ru_stime)
    else:
        time.sleep(seconds or 10)
    stop.set()
    for thread in threads:
        thread.join()
    return times, ids


@contextlib.contextmanager
def ledger_url(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from tests.support.postgres_server import running_server  # noqa: PLC0415 - a throw-away server

    with running_server() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ledger", help="URL of an empty PostgreSQL database (default: a throw-away server)")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--json-out")
    parser.add_argument("--code", help="run the `record` processes from this checkout's code (A/B on one machine)")
    args = parser.parse_args()
    if args.code:
        CODE["code"] = Path(args.code)
    folder = Path(tempfile.mkdtemp(prefix="exposure-writers-"))
    with ledger_url(args.ledger) as store:
        exposure(folder, store, "init")
        exposure(
            folder, store, "record", "attack-discovered", "--incident", INCIDENT, "--operator", "Bench",
            "--occurred-on", "2024-01-22", "--known-on", "2024-01-29",
        )  # fmt: skip
        write_roster(folder / "roster.csv", args.members)
        cpu_before = cpu_of_children()
        base_times, base_ids = run_writers(folder, store, args.writers, args.baseline_seconds, None)
        base_cpu = (cpu_of_children() - cpu_before) / max(1, len(base_times))
        started = time.perf_counter()
        importer = subprocess.Popen(
            [EXPOSURE, "--store", store, "members", "import", "--insurer", "big", "roster.csv", *IMPORT_KNOWN_ON],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        cpu_before = cpu_of_children()
        times, ids = run_writers(folder, store, args.writers, None, importer)
        import_s = time.perf_counter() - started
        record_cpu = (cpu_of_children() - cpu_before - sum(IMPORTER_CPU)) / max(1, len(times))
        if importer.returncode != 0:
            raise SystemExit(f"import failed: {importer.stderr}")
        log = exposure(folder, store, "audit", "log", "--json").stdout.splitlines()
        recorded = {json.loads(line)["id"] for line in log}
        lost = sorted(set(ids + base_ids) - recorded)
        verify = subprocess.run(
            [EXPOSURE, "--store", store, "audit", "verify"], cwd=folder, capture_output=True, text=True, check=False
        )
    figures = {
        "members": args.members,
        "writers": args.writers,
        "import_s": round(import_s, 1),
        "records_during_import": len(times),
        "record_p50_s": round(statistics.median(times), 3) if times else None,
        "record_max_s": round(max(times), 3) if times else None,
        "baseline_records": len(base_times),
        "baseline_p50_s": round(statistics.median(base_times), 3),
        "baseline_max_s": round(max(base_times), 3),
        "record_cpu_s": round(record_cpu, 3),
        "baseline_cpu_s": round(base_cpu, 3),
        "import_cpu_s": round(sum(IMPORTER_CPU), 1),
        "code": str(CODE.get("code", "installed")),
        "lost": len(lost),
        "verify_exit": verify.returncode,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))
    if lost or verify.returncode != 0:
        raise SystemExit(
            f"lost {len(lost)} facts; audit verify exit {verify.returncode}: {verify.stdout}{verify.stderr}"
        )


if __name__ == "__main__":
    main()
