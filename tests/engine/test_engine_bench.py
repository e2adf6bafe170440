"""`pvframes bench` at a small size, so that every benchmark keeps running: the keys the
issue names are there, the floor reaches the engine's state, every step succeeds. No
time is asserted."""

from __future__ import annotations

import io
import json

from engine import bench

KEYS = ("pages", "migrate_all_s", "migrate_all_floor_s", "migrate_all_deltas",
        "largest_event_bytes", "peak_rss_bytes", "unpin_l4_s", "reopen_s",
        "socketio_step_p99_s", "socketio_echo_p99_s")


def test_bench_json_small_guest():
    out = io.StringIO()
    assert bench.main(["--json", "--pages", "4096", "--repeat", "1"], out=out) == 0
    report = json.loads(out.getvalue())
    assert all(k in report for k in KEYS), [k for k in KEYS if k not in report]
    assert report["pages"] == 4096 and report["migration"] == "ok"
    assert report["floor_matches"] and report["audit_before"] and report["audit_after"]
    assert report["audit_after_hypercalls"] and report["unpin_l4_rc"] == 0
    assert all(f["rc"] == 0 for f in report["hypercalls"].values())
    assert 0 < report["migrate_all_deltas"] < 100  # merged: not one per frame
    assert report["largest_event_bytes"] >= report["migrate_all_event_bytes"] > 0
    # CPU time beside every wall time, and the ratio of the CPU times.
    assert all("cpu_s" in t for t in report["timings"])
    assert report["migrate_all_cpu_ratio"] == round(
        report["migrate_all_cpu_s"] / report["migrate_all_floor_cpu_s"], 2)
    # Without the web app, its figures are absent and say why.
    assert report["reopen_s"] is None and "reopen_s" in report["missing"]


def test_bench_keeps_the_best_of_repeated_migrations():
    """With --repeat 2 the migration runs twice on fresh builds, as the floor does, and
    the best is the figure; deltas and bytes are the first run's."""
    out = io.StringIO()
    assert bench.main(["--json", "--pages", "2048", "--repeat", "2"], out=out) == 0
    report = json.loads(out.getvalue())
    runs = report["migrate_all_runs_s"]
    assert len(runs) == 2 and report["migrate_all_s"] == min(runs)
    again = [t for t in report["timings"] if t["what"].startswith("migrate all (run 2")]
    assert len(again) == 1 and again[0]["rc"] == 0
    assert again[0]["deltas"] == report["migrate_all_deltas"]


def test_bench_text_output():
    out = io.StringIO()
    assert bench.main(["--pages", "2048", "--repeat", "1"], out=out) == 0
    text = out.getvalue()
    assert "migrate all" in text and "floor matches" in text and "unpin the L4" in text


def test_floor_notices_a_different_state():
    """The check is real: a floor run on a guest that differs is reported."""
    from engine import floor
    from engine.session import Session

    a = Session.create(bench.scenario(2048))
    b = Session.create(bench.scenario(2048))
    b.apply({"mmu_update": {"pfn": 3, "index": 100, "entry": 0}})
    da = floor.migrate_all(a.world.guest, a.world.hosts["destination"])
    db = floor.migrate_all(b.world.guest, b.world.hosts["destination"])
    assert floor.differences(a.world.hosts["destination"], da.p2m,
                             b.world.hosts["destination"], db.p2m)
