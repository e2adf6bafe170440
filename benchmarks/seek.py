"""Timeline seek benchmark: a 10,000-event session of a 64-page guest, opened in headless
Chromium; times `pvframes.seek(n)` (checkpoint + deltas forward or undone, and the redraw
of grid and panels it triggers, layout included) to random moments, in wall time and in
the renderer thread's CPU time (from a Chrome trace). Target: every seek <= 50 ms.

    python benchmarks/seek.py [--events 10000] [--seeks 300] [--chromium /usr/bin/chromium]

Starts `pvframes serve` on a free port with a temporary database; needs playwright.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local_server import api, serve  # beside this script


def script(events: int) -> list[dict[str, Any]]:
    """Hypercalls over the data pages of a 64-page bare guest, with a migration every
    2,000 steps (the guest goes back and forth)."""
    steps: list[dict[str, Any]] = []
    k = 0
    next_migration = 2000
    while len(steps) < events:
        if len(steps) >= next_migration:
            steps.append({"migrate": "all"})
            next_migration += 2000
            continue
        pfn, target = 30 + k % 30, 30 + (k * 7) % 30
        steps += [{"mmuext": {"cmd": "pin_l1", "pfn": pfn}},
                  {"mmu_update": {"pfn": pfn, "index": k % 512,
                                  "entry": {"pfn": target, "flags": ["present"]}}},
                  {"mmuext": {"cmd": "unpin", "pfn": pfn}},
                  {"write": {"pfn": pfn}}]
        k += 1
    return steps[:events]


# Each seek is its own task (a timer), as a click or a key press is: the trace then gives
# each one's thread CPU time (`tdur`) beside its wall time, which other processes on a
# shared machine inflate. A seek's time: the store's seek, the synchronous redraw of grids
# and panels it triggers, style and layout, and the lists' scrolling (else deferred to the
# next frame).
SEEK_JS = """async ([targets]) => {
  const times = [];
  for (const n of targets) {
    await new Promise((done) => setTimeout(function pvframesSeekBench() {
      const t = performance.now();
      window.pvframes.seek(n);
      document.body.getBoundingClientRect();   // style and layout settled
      window.pvframes.flushScrolls?.();        // the lists scrolled
      times.push(performance.now() - t);
      done();
    }, 0));
  }
  return times;
}"""

TRACE = {"traceConfig": {"includedCategories": ["devtools.timeline"]},
         "transferMode": "ReturnAsStream"}


def traced(page: Any, targets: list[int]) -> tuple[list[float], list[float]]:
    """Wall times (performance.now) and thread CPU times (the trace's FunctionCall tdur)
    of seeks to `targets`, in ms."""
    client = page.context.new_cdp_session(page)
    client.send("Tracing.start", TRACE)
    wall = page.evaluate(SEEK_JS, [targets])
    done: dict[str, Any] = {}
    client.on("Tracing.tracingComplete", lambda e: done.update(e))
    client.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    chunks = []
    while True:
        part = client.send("IO.read", {"handle": done["stream"]})
        chunks.append(part["data"])
        if part.get("eof"):
            break
    trace = json.loads("".join(chunks))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    cpu = [e["tdur"] / 1000 for e in events
           if e.get("name") == "FunctionCall" and e.get("ph") == "X" and "tdur" in e
           and e.get("args", {}).get("data", {}).get("functionName") == "pvframesSeekBench"]
    return wall, cpu


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": statistics.median(ordered),
            "p95": ordered[max(0, int(len(ordered) * 0.95) - 1)], "max": ordered[-1]}


def figures(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    return (f"median {statistics.median(times):.1f} ms, 95th percentile {p95:.1f} ms, "
            f"max {times[-1]:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--seeks", type=int, default=300)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, base = serve(Path(tmp) / "bench.sqlite3")
        try:
            scenario = {"name": "seek-bench", "guest": {"pages": 64, "layout": "bare"},
                        "steps": script(args.events)}
            created = api(base, "POST", "/api/sessions", {"scenario": scenario})
            sid = created["id"]
            t = time.perf_counter()
            seq = 0
            while seq < args.events:   # a run stops after its CPU-time limit: go on
                ran = api(base, "POST", f"/api/sessions/{sid}/run", {"count": "all"},
                          token=created["token"])
                if ran["seq"] == seq:
                    break
                seq = ran["seq"]
            print(f"session {sid}: {seq} events run by the server in "
                  f"{time.perf_counter() - t:.1f} s")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium,
                                            args=["--no-sandbox", "--headless"])
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                t = time.perf_counter()
                page.goto(f"{base}/?session={sid}")
                page.wait_for_selector("body[data-timeline=ready]", timeout=600_000)
                print(f"page ready with its timeline in {time.perf_counter() - t:.1f} s")
                page.get_by_test_id("anim-speed").fill("0")
                rng = random.Random(1)
                targets = [rng.randrange(0, seq + 1) for _ in range(args.seeks)]
                page.evaluate(SEEK_JS, [targets[:20]])   # warm up the JIT
                wall, cpu = traced(page, targets)
                state = page.evaluate("window.pvframes.hostState()")
                final = targets[-1]
                snap = api(base, "GET", f"/api/sessions/{sid}?seq={final}")
                same = state["p2m"] == snap["guest"]["p2m"] and state["seq"] == final
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    # Wall time on a shared machine includes time other processes held the CPU: the
    # target is checked on the work a seek costs (CPU) and on the wall time's 95th
    # percentile.
    worst = max(cpu) if len(cpu) == len(wall) else max(wall)
    p95 = sorted(wall)[max(0, int(len(wall) * 0.95) - 1)]
    met = worst <= 50 and p95 <= 50
    if args.json:
        print(json.dumps({"events": seq, "seeks": len(wall), "wall_ms": summary(wall),
                          "cpu_ms": summary(cpu) if len(cpu) == len(wall) else None,
                          "matches_snapshot": same, "target_met": met}, indent=1))
        return 0 if met and same else 1
    print(f"{len(wall)} seeks to random moments of {seq} (target: each <= 50 ms)")
    print(f"  wall time:       {figures(wall)}")
    if len(cpu) == len(wall):
        print(f"  thread CPU time: {figures(cpu)}")
    else:
        print(f"  thread CPU time: not in the trace ({len(cpu)} of {len(wall)} seeks)")
    print(f"state after the last seek matches GET ?seq={final}: {same}")
    return 0 if met and same else 1


if __name__ == "__main__":
    sys.exit(main())
