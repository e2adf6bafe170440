"""`pvframes bench`: how long the engine takes, and how much memory, on a large guest.
Figures are printed, never asserted: speed targets live here, not in the tests."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from .session import Session

STEPS_AFTER_BUILD = [
    {"mmu_update": {"pfn": 3, "index": 0, "entry": 0}},
    {"mmuext": {"cmd": "unpin", "pfn": 0}},
    {"mmuext": {"cmd": "pin_l4", "pfn": 0}},
]


def _timed(what: str, fn: Callable[[], Any], results: list[dict[str, Any]]) -> Any:
    start = time.perf_counter()
    value = fn()
    results.append({"what": what, "seconds": round(time.perf_counter() - start, 3)})
    return value


def scenario(pages: int) -> dict[str, Any]:
    frames = pages + pages // 8 + 4096
    return {
        "name": f"bench-{pages}",
        "guest": {"pages": pages, "layout": "linear"},
        "hosts": {"source": {"frames": frames, "reserved": [{"first": 0, "last": 255,
                                                              "owner": "dom0"}]},
                  "destination": {"frames": frames, "reserved": [{"first": 0, "last": 127,
                                                                   "owner": "dom0"}]}},
    }


def run(pages: int, xen: str) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    session = _timed(f"build linear guest of {pages} pages", lambda: Session.create(
        scenario(pages), xen), results)
    problems = _timed("audit (both hosts)", session.world.audit, results)
    for step in STEPS_AFTER_BUILD:
        op = next(iter(step))
        _timed(f"hypercall {op} {step[op].get('cmd', '')}".strip(),
               lambda step=step: session.apply(step), results)
    event = _timed("migrate all (begin, 1 round, suspend, restore)",
                   lambda: session.apply({"migrate": {"phase": "all", "rounds": 2}}), results)
    after = _timed("audit after migration", session.world.audit, results)
    _timed("snapshot (JSON-native)", session.snapshot, results)
    rounds = session.world.migration.rounds if session.world.migration else []
    return {
        "pages": pages, "xen": xen, "timings": results,
        "migration": event["result"], "audit_before": not problems, "audit_after": not after,
        "deltas_in_migration": len(event["deltas"]),
        "rounds": [r.as_dict() for r in rounds],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="pvframes bench")
    parser.add_argument("--pages", type=int, default=1_048_576)
    parser.add_argument("--xen", choices=["patched", "unpatched"], default="patched")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.pages, args.xen)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
    else:
        print(f"pvframes bench: linear guest, {report['pages']} pages, {report['xen']} Xen",
              file=out)
        for item in report["timings"]:
            print(f"  {item['seconds']:9.3f} s  {item['what']}", file=out)
        print(f"  migration {report['migration']}, {report['deltas_in_migration']} deltas; "
              f"audit before {'ok' if report['audit_before'] else 'FAILED'}, after "
              f"{'ok' if report['audit_after'] else 'FAILED'}", file=out)
        print(f"  peak RSS {report['peak_rss_mib']} MiB", file=out)
    return 0 if report["audit_before"] and report["audit_after"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
