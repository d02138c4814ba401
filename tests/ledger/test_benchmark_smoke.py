"""The roster benchmark keeps working: `benchmarks/roster.py --quick` runs end to end on a few
thousand members and reports every figure of docs/BENCHMARKS.md."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "roster.py"


@pytest.mark.slow
def test_the_quick_roster_benchmark_measures_every_figure(tmp_path):
    out = tmp_path / "bench.json"

    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--quick",
            "--members",
            "2000",
            "--store",
            str(tmp_path / "work"),
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["members"] == 2000
    assert figures["export_rows"] + figures["summary_members"]["ruled_out"] <= 2000
    members = figures["summary_members"]
    assert 0 < members["people"] <= members["affected"] == figures["export_rows"]
    for rate in ("raw_rate", "import_rate", "naive_rate", "export_rate", "raw_export_rate", "rebuild_rate"):
        assert figures[rate] > 0, rate
    assert 0 < figures["peak_memory_gib"] < 1
    assert figures["bytes_per_member"] > 0
    for command in ("python", "version", "summary_warm", "member"):  # whole processes
        assert figures["processes"][command]["wall_ms"] > 0, command
    for line in (
        "exposure members import",
        "lookup by NIR",
        "summary, warm",
        "members export",
        "projection rebuild",
        "exposure --version, whole process",
    ):
        assert line in done.stdout, line


def test_the_synthetic_population_has_the_announced_shape(tmp_path):
    spec = importlib.util.spec_from_file_location("roster_benchmark", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    files = bench.generate(tmp_path, 20_000)
    rows = [line.split(",") for _, path, _ in files for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    nirs = [row[5] for row in rows if row[5]]

    sizes = sorted((size for _, _, size in files), reverse=True)
    assert len(files) == 84
    assert sum(sizes) == len(rows) == 20_000
    assert 0.13 < sizes[0] / 20_000 < 0.17  # the largest insurer holds ~15%
    assert 0.45 < len(nirs) / len(rows) < 0.55  # about half the rows carry a NIR
    assert 0.01 < (len(nirs) - len(set(nirs))) / len(nirs) < 0.05  # ~3% shared by two insurers
    assert all(int(n[13:]) == 97 - int(n[:13]) % 97 for n in nirs)  # valid keys
    assert {row[1] for row in rows} == {"holder", "dependant"}
