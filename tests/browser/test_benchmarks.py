"""The browser benchmarks (benchmarks/*.py) run at a small size, so that they cannot rot.

Nothing here asserts a time: each run must finish, print its report with every figure,
and the page must have done the work measured (no page errors, the seeks reached the
state the server reports)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(name: str, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), "--json", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.stdout.strip(), f"{name} printed nothing: {done.stderr[-2000:]}"
    start = done.stdout.index("{")   # seek.py prints progress lines before its report
    return done.returncode, json.loads(done.stdout[start:])


def test_browser_lod_benchmark_runs_small() -> None:
    # Above 16,384 pages (static/js/lodview.js LOD_MIN), the view this benchmark measures.
    rc, report = run_benchmark("browser_lod.py", "--pages", "32768", "--frames", "10")
    assert rc == 0
    assert report["pages"] == 32768
    assert report["errors"] == []
    assert report["first_paint_ms"] > 0
    assert report["pan_zoom_fps"] > 0
    for key in ("median", "p95", "max"):
        assert key in report["pan_zoom_frame_ms"]
    assert report["server_migrate_s"] > 0
    assert report["migration_longest_task_ms"] >= 0


def test_seek_benchmark_runs_small() -> None:
    # The exit status says whether the 50 ms target was met: a time, not checked here.
    _, report = run_benchmark("seek.py", "--events", "60", "--seeks", "10")
    assert report["events"] == 60
    assert report["seeks"] == 10
    assert report["matches_snapshot"] is True
    assert report["wall_ms"]["max"] > 0
