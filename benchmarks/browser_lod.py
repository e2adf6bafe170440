"""Browser benchmark of a large guest's grid (static/js/lodview.js): a 2^20-page linear
guest opened in headless Chromium. Measures, with requestAnimationFrame and the long-task
observer (nothing is asserted; issue 11's targets are printed beside each figure):

- first paint: from navigation start to the first frame showing every block of the guest
  (target: under 2 s);
- pan and zoom: frames per second while a wheel event (zoom) or a drag step (pan) arrives
  every frame, and the longest frame (target: 50 fps or more);
- watching `migrate all`: the longest task and the longest gap between frames on the page
  while the server migrates the guest and the page receives and animates the event
  (target: no task over 100 ms).

    python benchmarks/browser_lod.py [--pages 1048576] [--json] [--chromium /usr/bin/chromium]

Starts `pvframes serve` on a free port with a temporary database; needs playwright.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from local_server import api, serve  # beside this script

LOD_MIN = 16384   # static/js/lodview.js
GRID = "document.querySelector('[data-testid=grid-guest]')"


# Resolves with performance.now() (ms since navigation start) at the first frame where the
# zoomable grid is drawn with every block computed.
FIRST_PAINT_JS = f"""() => new Promise((resolve) => {{
  const check = () => {{
    const c = {GRID};
    if (c && c.dataset.lod && c.dataset.pending === '0') resolve(performance.now());
    else requestAnimationFrame(check);
  }};
  check();
}})"""

# One input event per frame for `frames` frames: wheel zooms in, then drag steps pan, then
# wheel zooms out. Returns the frame intervals and the time each event's handling took.
INTERACT_JS = f"""(frames) => new Promise((resolve) => {{
  const c = {GRID};
  const r = c.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  const intervals = [], handling = [];
  let last = null, i = 0, px = cx;
  const step = (t) => {{
    if (last !== null) intervals.push(t - last);
    last = t;
    if (i >= frames) {{ resolve({{intervals, handling}}); return; }}
    const phase = Math.floor(3 * i / frames);
    const t0 = performance.now();
    if (phase === 0) c.dispatchEvent(new WheelEvent('wheel', {{deltaY: -40, clientX: cx,
      clientY: cy, bubbles: true, cancelable: true}}));
    else if (phase === 1) {{
      if (i === Math.ceil(frames / 3)) c.dispatchEvent(new PointerEvent('pointerdown',
        {{clientX: px, clientY: cy, button: 0, buttons: 1, bubbles: true}}));
      px += 7;
      c.dispatchEvent(new PointerEvent('pointermove', {{clientX: px, clientY: cy, buttons: 1,
        bubbles: true}}));
    }} else c.dispatchEvent(new WheelEvent('wheel', {{deltaY: 40, clientX: cx, clientY: cy,
      bubbles: true, cancelable: true}}));
    handling.push(performance.now() - t0);
    i += 1;
    requestAnimationFrame(step);
  }};
  requestAnimationFrame(step);
}})"""

# Long tasks and frame gaps from now until stop() is called.
WATCH_JS = """() => {
  const w = { tasks: [], gaps: [], last: null, on: true };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.tasks.push(e.duration);
  }).observe({ type: 'longtask' });
  const frame = (t) => {
    if (w.last !== null) w.gaps.push(t - w.last);
    w.last = t;
    if (w.on) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  window.__watch = w;
}"""


def summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median": statistics.median(values), "p95": values[int(0.95 * (len(values) - 1))],
            "max": values[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1 << 20)
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    pages = args.pages
    if pages <= LOD_MIN:   # smaller guests are drawn cell by cell: no blocks to wait for
        parser.error(f"--pages must be over {LOD_MIN} (static/js/lodview.js LOD_MIN)")
    frames = pages + pages // 8 + 4096
    scenario = {"name": "lod-bench", "guest": {"pages": pages, "layout": "linear"},
                "hosts": {"source": {"frames": frames}, "destination": {"frames": frames}}}
    report: dict[str, Any] = {"pages": pages}
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = serve(Path(tmp) / "bench.sqlite3")
        try:
            created = api(base, "POST", "/api/sessions", {"scenario": scenario})
            sid, token = created["id"], created["token"]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium,
                                            args=["--no-sandbox", "--headless"])
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base}/?session={sid}#token={token}")
                report["first_paint_ms"] = page.evaluate(FIRST_PAINT_JS)
                page.wait_for_selector("body[data-state=ready]", timeout=600_000)
                page.evaluate(INTERACT_JS, 30)   # warm up the JIT
                page.keyboard.press("0")
                got = page.evaluate(INTERACT_JS, args.frames)
                iv = summary(got["intervals"])
                report["pan_zoom_fps"] = 1000 / statistics.mean(got["intervals"])
                report["pan_zoom_frame_ms"] = iv
                report["pan_zoom_handling_ms"] = summary(got["handling"])
                page.keyboard.press("0")
                page.evaluate(WATCH_JS)
                t = time.perf_counter()
                seq = api(base, "POST", f"/api/sessions/{sid}/steps", {"migrate": "all"},
                          token=token)["seq"]
                report["server_migrate_s"] = time.perf_counter() - t
                page.wait_for_function("n => Number(document.body.dataset.seq) === n", arg=seq,
                                       timeout=600_000)
                report["event_arrived_s"] = time.perf_counter() - t
                page.wait_for_function(f"() => {GRID}.dataset.pending === '0'")
                page.wait_for_timeout(3000)   # the animation plays on
                watch = page.evaluate("() => { window.__watch.on = false; return window.__watch; }")
                report["migration_longest_task_ms"] = max(watch["tasks"], default=0.0)
                report["migration_long_tasks"] = len(watch["tasks"])
                report["migration_longest_frame_gap_ms"] = max(watch["gaps"], default=0.0)
                report["errors"] = errors
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{pages} pages")
        print(f"first paint            {report['first_paint_ms']:8.0f} ms   (target < 2000 ms)")
        print(f"pan and zoom           {report['pan_zoom_fps']:8.1f} fps  (target >= 50); "
              f"frame p95 {iv['p95']:.1f} ms, max {iv['max']:.1f} ms")
        print(f"migration: longest task {report['migration_longest_task_ms']:7.0f} ms   "
              f"(target <= 100 ms), {report['migration_long_tasks']} long tasks, longest "
              f"frame gap {report['migration_longest_frame_gap_ms']:.0f} ms; server "
              f"{report['server_migrate_s']:.1f} s")
        if report["errors"]:
            print("page errors:", report["errors"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
