"""Writers during a roster import, on PostgreSQL: does `exposure record` stay interactive?

    python benchmarks/pg_writers.py --ledger postgresql://bench@/bench --members 1000000
    python benchmarks/pg_writers.py --members 20000       # starts a throw-away server

While `exposure members import` loads a roster of N members into the store, W processes
(default 4) each run `exposure record insurer-informed ...` in a loop, every call a whole
`exposure` process, as a person or a script would. `--code DIR`, repeatable: the writers run
those checkouts' code in turn (an A/B in one run, each checkout's bytecode cached as
`benchmarks/commands.py` does); the import always runs the installed code. Prints, per code,
the p50 and maximum time of a `record` (whole process, and the same without the import
running as the baseline measured in the same run) and the median CPU seconds of one `record`
process, then checks that nothing was lost (every recorded id is in the ledger) and that
positions are dense (`exposure audit verify`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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
CODES: list[Path] = []
"""`--code DIR` (repeatable): the checkouts whose code the writers run, writer k the k-th modulo
their number (an A/B in one run); none: the installed `exposure`."""


def command(store: str, code: Path | None, *args: str) -> tuple[list[str], dict[str, str] | None]:
    """argv and environment of one `exposure` process (`code`: that checkout's code)."""
    if code is None:
        return [EXPOSURE, "--store", store, *args], None
    from benchmarks.commands import child_env  # noqa: PLC0415 - a script folder, importable once ROOT is on the path

    return [sys.executable, "-c", ENTRY, "--store", store, *args], child_env(code)


def exposure(folder: Path, store: str, *args: str, code: Path | None = None) -> tuple[str, float]:
    """Run one `exposure` process; its standard output and CPU seconds (its own, from `wait4`)."""
    argv, env = command(store, code, *args)
    child = subprocess.Popen(argv, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = child.stdout.read() if child.stdout else "", child.stderr.read() if child.stderr else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"exposure {' '.join(args)} failed: {err.strip()}")
    return out, usage.ru_utime + usage.ru_stime


def write_roster(path: Path, members: int) -> None:
    from cli.commands.demo_roster import write_roster_csv  # noqa: PLC0415

    rows = (
        {"ref": f"R{i:09d}", "role": "holder" if i % 3 else "dependant", "contract": "AB"[i % 2]}
        for i in range(members)
    )
    write_roster_csv(path, rows)


Sample = tuple[str, float, float, str]
"""(code label, wall seconds, CPU seconds, fact id) of one `record` process."""


def label(code: Path | None) -> str:
    return "installed" if code is None else str(code)


def writer(
    folder: Path, store: str, name: str, code: Path | None, stop: threading.Event, samples: list[Sample]
) -> None:
    i = 0
    while not stop.is_set():
        fact_id = f"{name}-{i}"
        started = time.perf_counter()
        _, cpu = exposure(
            folder, store, "record", "insurer-informed", "--incident", INCIDENT, "--insurer", f"ins-{name}",
            "--known-on", "2024-02-01", "--id", fact_id, code=code,
        )  # fmt: skip
        samples.append((label(code), time.perf_counter() - started, cpu, fact_id))
        i += 1


def run_writers(
    folder: Path, store: str, count: int, seconds: float | None, until: subprocess.Popen[str] | None
) -> list[Sample]:
    stop = threading.Event()
    samples: list[Sample] = []
    codes: list[Path | None] = list(CODES) or [None]
    threads = [
        threading.Thread(
            target=writer,
            args=(folder, store, f"w{k}{'i' if until else 'b'}", codes[k % len(codes)], stop, samples),
        )
        for k in range(count)
    ]
    for thread in threads:
        thread.start()
    if until is not None:
        until.wait()
    else:
        time.sleep(seconds or 10)
    stop.set()
    for thread in threads:
        thread.join()
    return samples


def figures_of(samples: list[Sample]) -> dict[str, dict[str, float | int]]:
    """Per code: how many records, their p50 and maximum wall time, their median CPU."""
    found: dict[str, dict[str, float | int]] = {}
    for name in sorted({s[0] for s in samples}):
        walls = [s[1] for s in samples if s[0] == name]
        cpus = [s[2] for s in samples if s[0] == name]
        found[name] = {
            "records": len(walls),
            "p50_s": round(statistics.median(walls), 3),
            "max_s": round(max(walls), 3),
            "cpu_p50_s": round(statistics.median(cpus), 3),
        }
    return found


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
    parser.add_argument(
        "--code", action="append", default=[], help="a checkout whose code some writers run (repeat: A/B in one run)"
    )
    args = parser.parse_args()
    CODES.extend(Path(code) for code in args.code)
    folder = Path(tempfile.mkdtemp(prefix="exposure-writers-"))
    with ledger_url(args.ledger) as store:
        exposure(folder, store, "init")
        exposure(
            folder, store, "record", "attack-discovered", "--incident", INCIDENT, "--operator", "Bench",
            "--occurred-on", "2024-01-22", "--known-on", "2024-01-29",
        )  # fmt: skip
        write_roster(folder / "roster.csv", args.members)
        for k, code in enumerate(CODES):  # untimed: each checkout's bytecode cached before the first timed record
            exposure(
                folder, store, "record", "insurer-informed", "--incident", INCIDENT, "--insurer", "ins-warm-up",
                "--known-on", "2024-02-01", "--id", f"warm-up-{k}", code=code,
            )  # fmt: skip
        baseline = run_writers(folder, store, args.writers, args.baseline_seconds, None)
        started = time.perf_counter()
        importer = subprocess.Popen(
            [
                EXPOSURE,
                "--store",
                store,
                "members",
                "import",
                "--insurer",
                "big",
                "roster.csv",
                "--known-on",
                "2024-01-01",
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        during = run_writers(folder, store, args.writers, None, importer)
        import_s = time.perf_counter() - started
        if importer.returncode != 0:
            raise SystemExit(f"import failed: {importer.stderr.read() if importer.stderr else ''}")
        log, _ = exposure(folder, store, "audit", "log", "--json")
        recorded = {json.loads(line)["id"] for line in log.splitlines()}
        lost = sorted({s[3] for s in baseline + during} - recorded)
        verify = subprocess.run(
            [EXPOSURE, "--store", store, "audit", "verify"], cwd=folder, capture_output=True, text=True, check=False
        )
    figures = {
        "members": args.members,
        "writers": args.writers,
        "import_s": round(import_s, 1),
        "during_import": figures_of(during),
        "baseline": figures_of(baseline),
        "lost": len(lost),
        "verify_exit": verify.returncode,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    for key, value in figures.items():
        print(f"{key:>14}: {value}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2))
    if lost or verify.returncode != 0:
        raise SystemExit(
            f"lost {len(lost)} facts; audit verify exit {verify.returncode}: {verify.stdout}{verify.stderr}"
        )


if __name__ == "__main__":
    main()
