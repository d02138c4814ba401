"""`exposure notify members` against `exposure members export`, measured in the same run.

    python benchmarks/notify.py --members 1000000 --work /var/tmp/exposure-notify-bench
    python benchmarks/notify.py --quick --work /tmp/notify-bench   # a few thousand members (smoke run)
    python benchmarks/notify.py --members 20000000 --work /var/tmp/nb20m --keep   # imports once, then reuses

One insurer with N synthetic members (holders and dependants, no NIR: the NIR plays no part
in either command) is imported with `exposure members import`, the incident is recorded
(the insurer affected, five categories exposed), then both commands run as real processes
writing CSV to a file, each timed and its peak memory measured (VmHWM: the `ru_maxrss` of
that child, reported by `wait4`):

- `members export --insurer X`: the baseline;
- `notify members` before any notice: every member `initial` (one pass, like export);
- `notify members` after a blanket `members-notified` and a later exposed field: every
  member `complementary` (the notice is compared with the answer now: two passes merged);
- `notify members --since-last` at the notice's own date: nothing to write (0 rows);
- after a scope narrowed to holders: the dependants were told and no longer are, so the
  answers at the notice and now are merged by ref (the sorting path), against an export
  that writes the holders only.

Prints the rates, the ratios to export and the peak memories; `--json-out FILE` keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EXPOSURE = Path(sys.executable).with_name("exposure")
INCIDENT = "bench-2024-01"
INSURER = "bench-insurer"
TOLD = "2024-02-05T12:00:00+01:00"


def roster_csv(path: Path, members: int, seed: int = 1) -> None:
    """`members` synthetic members: households of a holder and 0-3 dependants."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("ref,role,contract,from\n")
        ref = 0
        while ref < members:
            household = min(members - ref, 1 + rng.randint(0, 3))
            contract = rng.choice(("SANTE-ESSENTIEL", "SANTE-CONFORT", "SANTE-INTEGRAL"))
            start = f"{rng.randint(2000, 2023)}-{rng.randint(1, 12):02d}-01"
            for member in range(household):
                role = "holder" if member == 0 else "dependant"
                handle.write(f"BM-{ref:09d},{role},{contract},{start}\n")
                ref += 1


def exposure(store: Path, *args: str, out: Path | None = None) -> tuple[float, int, float]:
    """Run `exposure --store STORE ARGS` (stdout to `out`); (seconds, peak RSS in KiB of that
    child (its VmHWM), CPU seconds of that child: user + system, all its threads)."""
    sink = out.open("wb") if out is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        child = subprocess.Popen([str(EXPOSURE), "--store", str(store), *args], stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
    finally:
        if out is not None and not isinstance(sink, int):
            sink.close()
    if status != 0:
        message = child.stderr.read().decode(errors="replace") if child.stderr else ""
        raise SystemExit(f"exposure {' '.join(args)} failed: {message[-2000:]}")
    return elapsed, int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime


def facts(lines: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def rows_in(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def benchmark(members: int, work: Path, say: Any, *, keep: bool = False) -> dict[str, Any]:
    """The run. `keep`: reuse the store of an earlier run with the same members in `work` (the
    facts recorded after the import are imported again, which changes nothing: imports are
    idempotent, and each command reads the ledger as known on its own date)."""
    store = work / "store" / "exposure.db"
    ready = work / "store" / "imported"
    if not (keep and ready.exists() and ready.read_text().strip() == str(members)):
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        exposure(store, "init", "--timezone", "Europe/Paris")
        roster = work / "roster.csv"
        roster_csv(roster, members)
        seconds, _, _ = exposure(
            store, "members", "import", "--insurer", INSURER, str(roster), "--known-on", "2024-01-01"
        )
        roster.unlink()
        ready.write_text(f"{members}\n")
        say(f"imported {members:,} members in {seconds:.1f} s")
    else:
        say(f"reusing the store of {members:,} members in {work}")
    story = [
        {
            "kind": "attack-discovered",
            "incident": INCIDENT,
            "operator": "Bench",
            "occurred_on": "2024-01-22",
            "known_on": "2024-01-29",
        },
        {"kind": "insurer-confirmed-affected", "incident": INCIDENT, "insurer": INSURER, "known_on": "2024-02-01"},
        {
            "kind": "field-ruled-in",
            "incident": INCIDENT,
            "known_on": "2024-02-01",
            "categories": ["civil_status", "birth_date", "nir", "insurer_name", "contract_guarantees"],
        },
    ]
    exposure(store, "import", str(facts(story, work / "story.jsonl")))
    figures: dict[str, Any] = {"members": members}

    def run(name: str, *args: str) -> None:
        out = work / f"{name}.csv"
        seconds, peak, cpu = exposure(store, *args, out=out)
        rows = rows_in(out)
        figures[name] = {
            "seconds": seconds,
            "rows": rows,
            "rate": rows / seconds if rows else 0.0,
            "peak_kib": peak,
            "cpu_seconds": cpu,
            "cpu_rate": rows / cpu if rows and cpu else 0.0,
        }
        figures[name]["load_average_1min"] = os.getloadavg()[0]
        say(
            f"{name:<28} {rows:>11,} rows {seconds:8.2f} s {figures[name]['rate']:>12,.0f} rows/s"
            f" CPU {cpu:7.2f} s {figures[name]['cpu_rate']:>10,.0f} rows/CPU s"
            f" VmHWM {peak / 1024:7.0f} MiB  load {os.getloadavg()[0]:.1f}"
        )

    scope = ("--incident", INCIDENT, "--insurer", INSURER)
    run("members_export", "members", "export", *scope, "--as-known-on", "2024-02-04")
    run("notify_initial", "notify", "members", *scope, "--as-known-on", "2024-02-04")
    later = [
        {"kind": "members-notified", "incident": INCIDENT, "insurer": INSURER, "known_on": TOLD, "occurred_on": TOLD},
        {
            "kind": "field-ruled-in",
            "incident": INCIDENT,
            "insurer": INSURER,
            "categories": ["member_number"],
            "known_on": "2024-02-10",
        },
    ]
    exposure(store, "import", str(facts(later, work / "later.jsonl")))
    run("members_export_after", "members", "export", *scope, "--as-known-on", "2024-02-10")
    run("notify_complementary", "notify", "members", *scope, "--as-known-on", "2024-02-10")
    run("notify_since_last_quiet", "notify", "members", *scope, "--since-last", "--as-known-on", "2024-02-06")
    narrowed = [
        {
            "kind": "scope-defined",
            "incident": INCIDENT,
            "insurer": INSURER,
            "roles": ["holder"],
            "known_on": "2024-02-12",
        }
    ]
    exposure(store, "import", str(facts(narrowed, work / "narrowed.jsonl")))
    run("members_export_narrowed", "members", "export", *scope, "--as-known-on", "2024-02-12")
    run("notify_merged", "notify", "members", *scope, "--as-known-on", "2024-02-12")
    for name, baseline in (
        ("notify_initial", "members_export"),
        ("notify_complementary", "members_export_after"),
        ("notify_merged", "members_export_narrowed"),
    ):
        figures[f"{name}_vs_export"] = figures[name]["rate"] / figures[baseline]["rate"]
        figures[f"{name}_vs_export_cpu"] = figures[name]["cpu_rate"] / figures[baseline]["cpu_rate"]
    for kind in ("", "_cpu"):
        say(
            f"notify/export {'rows per CPU second' if kind else 'rate (wall)'}:"
            f" initial {figures[f'notify_initial_vs_export{kind}']:.2f}x,"
            f" complementary {figures[f'notify_complementary_vs_export{kind}']:.2f}x,"
            f" merged {figures[f'notify_merged_vs_export{kind}']:.2f}x"
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, required=True, help="A folder for the store (emptied first).")
    parser.add_argument(
        "--keep", action="store_true", help="reuse the store an earlier run with the same --members left in --work"
    )
    parser.add_argument("--quick", action="store_true", help="3,000 members")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    members = 3_000 if args.quick else args.members
    figures = benchmark(members, args.work, print, keep=args.keep)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
