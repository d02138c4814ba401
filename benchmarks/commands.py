"""Whole-process timings of the `exposure` commands a user waits for, on a store left by
`benchmarks/roster.py --store DIR` (and run by it at the end of every run).

    python benchmarks/commands.py --store /var/tmp/bench-1m
    python benchmarks/commands.py --store /var/tmp/bench-1m --code /tmp/old-checkout   # the same, older code

Each command runs as a new process (`python -c "from cli.main import main; main()" ...`,
what the `exposure` script does) `--runs` times; the figures are the median wall time and
the median CPU time of the process, next to a bare `python -c pass` measured in the same
run. Processes run from cached bytecode (`child_env`), as an installed package does. The
history commands are also timed on their first run (no cached count).
`--code` runs another checkout's code (its folder goes first on PYTHONPATH).

The incident of `roster.py` gains a few facts here (once): every insurer informed, authority
notices, blanket and named member notices, findings and an insurer-scoped field, so that
`obligations`, `diff` and `timeline` have notices, findings and changes to count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
INCIDENT: Final = "bench-2024-01"
ENTRY: Final = "import sys; from cli.main import main; sys.exit(main())"
EXTRA_MARK: Final = "bench-notices"


def child_env(code: Path) -> dict[str, str]:
    """The environment of a timed process: `code` first on the path, and its bytecode cached
    (in a folder of the temporary directory named after the checkout, never in the checkout)
    even where PYTHONDONTWRITEBYTECODE is set, as an installed package has it: without the
    cache every process compiles the modules of the checkout again (80-130 ms of CPU per
    `exposure` process at 1 M, measured 30 November; docs/BENCHMARKS.md)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    digest = hashlib.sha256(str(code.resolve()).encode()).hexdigest()[:12]
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "exposure-bench-pyc" / digest)
    env["PYTHONPATH"] = str(code)
    return env


def run_once(argv: list[str], code: Path, *, stdin: str | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout) of one process."""
    env = child_env(code)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, input=stdin, check=False, cwd=tempfile.gettempdir()
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[3:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def timed(argv: list[str], code: Path, runs: int) -> dict[str, float]:
    """Median wall and CPU milliseconds over `runs` processes (after one untimed run)."""
    run_once(argv, code)
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = run_once(argv, code)
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_ms": statistics.median(walls) * 1000, "cpu_ms": statistics.median(cpus) * 1000}


def exposure(store: Path, key: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", ENTRY, "--store", str(store), "--key-file", str(key), *args]


def notice_facts(db_path: Path) -> list[dict[str, Any]]:
    """Facts that give the history commands notices, findings and changes to count."""
    with sqlite3.connect(db_path) as db:
        insurers = [r[0] for r in db.execute("SELECT DISTINCT insurer FROM facts WHERE kind = 'members-enrolled'")]
        samples = {
            name: [r[0] for r in db.execute("SELECT ref FROM member_versions WHERE insurer = ? LIMIT 20", (name,))]
            for name in insurers[:6]
        }
    facts: list[dict[str, Any]] = [
        {
            "kind": "insurer-informed",
            "id": f"{EXTRA_MARK}-told-{i}",
            "incident": INCIDENT,
            "insurer": name,
            "known_on": "2024-01-30",
            "occurred_on": "2024-01-30",
        }
        for i, name in enumerate(insurers)
    ]
    for i, name in enumerate(insurers[:40]):
        facts.append(
            {
                "kind": "authority-notified",
                "id": f"{EXTRA_MARK}-cnil-{i}",
                "incident": INCIDENT,
                "insurer": name,
                "authority": "CNIL",
                "known_on": "2024-02-02",
            }
        )
    for i, (name, refs) in enumerate(samples.items()):
        facts.append(
            {
                "kind": "members-confirmed-affected",
                "id": f"{EXTRA_MARK}-found-{i}",
                "incident": INCIDENT,
                "insurer": name,
                "refs": refs[:5],
                "known_on": "2024-02-03",
            }
        )
        if i % 2:
            facts.append(
                {
                    "kind": "members-notified",
                    "id": f"{EXTRA_MARK}-all-{i}",
                    "incident": INCIDENT,
                    "insurer": name,
                    "known_on": "2024-02-04",
                }
            )
        else:
            facts.append(
                {
                    "kind": "members-notified",
                    "id": f"{EXTRA_MARK}-some-{i}",
                    "incident": INCIDENT,
                    "insurer": name,
                    "refs": refs[5:15],
                    "known_on": "2024-02-04",
                }
            )
    facts.append(
        {
            "kind": "field-ruled-in",
            "id": f"{EXTRA_MARK}-dob",
            "incident": INCIDENT,
            "insurer": insurers[0],
            "categories": ["birth_date"],
            "known_on": "2024-02-05",
        }
    )
    return facts


def sample_ref(db_path: Path) -> tuple[str, str]:
    with sqlite3.connect(db_path) as db:
        row = db.execute(
            "SELECT insurer, ref FROM member_versions ORDER BY insurer DESC, ref LIMIT 1 OFFSET 777"
        ).fetchone()
    return str(row[0]), str(row[1])


def measure(work: Path, code: Path = ROOT, runs: int = 5, say: Any = None, *, quick: bool = False) -> dict[str, Any]:
    """Every whole-process figure on the store of a roster.py working folder (`quick`: the
    start-up and the queries only)."""
    store_dir = work / "store"
    store, key = store_dir / "exposure.db", store_dir / "exposure.key"
    out: dict[str, Any] = {"runs": runs}
    say = say or (lambda _line: None)
    with sqlite3.connect(store) as db:
        present = db.execute("SELECT 1 FROM facts WHERE id LIKE ? LIMIT 1", (EXTRA_MARK + "%",)).fetchone()
    if present is None:
        lines = "".join(json.dumps(f) + "\n" for f in notice_facts(store))
        run_once([*exposure(store, key, "import", "-")], code, stdin=lines)
    insurer, ref = sample_ref(store)

    out["python"] = timed([sys.executable, "-c", "pass"], code, runs)
    out["version"] = timed([sys.executable, "-c", ENTRY, "--version"], code, runs)
    say(f"start-up: python {out['python']['wall_ms']:.0f} ms, --version {out['version']['wall_ms']:.0f} ms")
    out["summary_warm"] = timed(exposure(store, key, "summary", "--incident", INCIDENT), code, runs)
    out["member"] = timed(exposure(store, key, "member", "--insurer", insurer, "--ref", ref), code, runs)
    say(f"summary warm {out['summary_warm']['wall_ms']:.0f} ms, member {out['member']['wall_ms']:.0f} ms")
    if quick:
        return out
    commands = {
        "obligations": ["obligations", "--incident", INCIDENT],
        "diff": ["diff", "--incident", INCIDENT, "--from", "2024-01-31", "--to", "2024-02-06"],
        "timeline": ["timeline", "--incident", INCIDENT],
    }
    for name, args in commands.items():
        with sqlite3.connect(store) as db:  # the first run after a new knowledge state: nothing cached
            db.execute("DELETE FROM count_cache")
        first_wall, first_cpu, _ = run_once(exposure(store, key, *args), code)
        out[f"{name}_first"] = {"wall_ms": first_wall * 1000, "cpu_ms": first_cpu * 1000}
        out[name] = timed(exposure(store, key, *args), code, runs)
        say(f"{name}: first {first_wall * 1000:.0f} ms, then {out[name]['wall_ms']:.0f} ms")
    return out


def table(figures: dict[str, Any]) -> str:
    base = figures["python"]
    title = f"whole process (median of {figures['runs']})"
    lines = [f"{title:<34}{'wall ms':>9}{'CPU ms':>9}{'wall - python':>15}"]
    for name in (
        "python",
        "version",
        "summary_warm",
        "member",
        "obligations_first",
        "obligations",
        "diff_first",
        "diff",
        "timeline_first",
        "timeline",
    ):
        if name in figures:
            row = figures[name]
            lines.append(
                f"{name:<34}{row['wall_ms']:>9.0f}{row['cpu_ms']:>9.0f}{row['wall_ms'] - base['wall_ms']:>15.0f}"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", required=True, help="the working folder of a roster.py run (kept with --store)")
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose code runs (default: this one)")
    parser.add_argument("--runs", type=int, default=5, help="processes per command (median reported)")
    parser.add_argument("--json-out", help="write the figures as JSON to this file")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    figures = measure(Path(args.store), Path(args.code), args.runs, say)
    print(table(figures))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
