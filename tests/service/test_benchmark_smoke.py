"""The service benchmark keeps working: `benchmarks/service.py --quick` on a few thousand members
starts the real service and reports every figure of docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "service.py"


@pytest.mark.slow
def test_the_quick_service_benchmark_measures_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"

    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--quick",
            "--members",
            "2000",
            "--seconds",
            "0.5",
            "--requests",
            "40",
            "--work",
            str(tmp_path / "work"),
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    phases = json.loads(out.read_text(encoding="utf-8"))["phases"]
    assert set(phases) == {
        "baseline_health_16",
        "single_1",
        "single_16",
        "single_64",
        "batch_1000_x4",
        "all_single_16",
        "all_batch_1000_x4",
        "thread_single_16",
        "thread_batch_1000_x4",
    }
    for name, figures in phases.items():
        assert figures["requests"] > 0, name
        assert figures["errors"] == 0, name
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], name
    assert phases["batch_1000_x4"]["nirs_per_s"] > 0
    assert phases["all_batch_1000_x4"]["nirs_per_s"] > 0  # the all-insurer token, measured beside the scoped one
