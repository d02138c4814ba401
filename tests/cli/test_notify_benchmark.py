"""The notify benchmark keeps working: `benchmarks/notify.py --quick` runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "notify.py"


@pytest.mark.slow
def test_the_quick_notify_benchmark_measures_both_paths_against_export(tmp_path):
    out = tmp_path / "bench.json"

    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--work", str(tmp_path / "work"), "--json-out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    for name in ("members_export", "notify_initial", "members_export_after", "notify_complementary"):
        assert figures[name]["rows"] == 3000, name
        assert figures[name]["peak_kib"] > 0
    assert figures["notify_since_last_quiet"]["rows"] == 0
    assert figures["notify_initial_vs_export"] > 0
    assert figures["notify_complementary_vs_export"] > 0
    assert figures["notify_merged"]["rows"] == 3000  # holders told, nothing new; dependants no longer affected
    assert 0 < figures["members_export_narrowed"]["rows"] < 3000
