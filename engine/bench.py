"""`pvframes bench`: how long the engine takes, how many deltas and bytes it produces, and
how much memory, on a large `linear` guest; each time beside a floor measured in the same
process (engine/floor.py: the same migration with whole-array numpy). Figures are
printed, never asserted: speed targets live here, not in the tests.

`--json` prints one object (docs/bench.md lists its keys). Figures that need the web app
(`reopen_s`, `socketio_*`) are added by `pvframes bench` in webapp/cli.py when the web
app is installed; run directly (`python -m engine.bench`) they are null, and `missing`
says why.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from . import floor
from .builder import linear_shape
from .session import Session

UPPER = ["present", "rw", "user", "accessed"]
ENGINE_ONLY = {"reopen_s": "needs the web app (pvframes bench)",
               "socketio_step_p99_s": "needs the web app (pvframes bench)",
               "socketio_echo_p99_s": "needs the web app (pvframes bench)"}


def scenario(pages: int, alloc: str | int = "ascending") -> dict[str, Any]:
    frames = pages + pages // 8 + 4096
    return {
        "name": f"bench-{pages}",
        "guest": {"pages": pages, "layout": "linear"},
        "hosts": {"source": {"frames": frames, "alloc": alloc,
                             "reserved": [{"first": 0, "last": 255, "owner": "dom0"}]},
                  "destination": {"frames": frames, "alloc": alloc,
                                  "reserved": [{"first": 0, "last": 127, "owner": "dom0"}]}},
    }


def event_bytes(event: dict[str, Any]) -> int:
    return len(json.dumps(event, separators=(",", ":")))


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Bench:
    def __init__(self, pages: int, xen: str) -> None:
        self.pages = pages
        self.xen = xen
        self.out: dict[str, Any] = {"pages": pages, "xen": xen}
        self.timings: list[dict[str, Any]] = []
        self.largest = 0

    def timed(self, what: str, fn: Callable[[], Any]) -> tuple[Any, float]:
        """Wall time, returned; the process's CPU time beside it in `timings` (on a
        shared machine the wall time includes other processes' turns, the CPU time
        does not)."""
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        took = time.perf_counter() - start
        self.timings.append({"what": what, "seconds": round(took, 4),
                             "cpu_s": round(time.process_time() - cpu, 4)})
        return value, took

    def step(self, what: str, session: Session, step: dict[str, Any]) -> dict[str, Any]:
        """One step, timed; its deltas and bytes recorded."""
        event, took = self.timed(what, lambda: session.apply(step))
        size = event_bytes(event)
        self.largest = max(self.largest, size)
        self.timings[-1].update({"deltas": len(event["deltas"]), "bytes": size,
                                 "rc": event["rc"]})
        return {"s": took, "deltas": len(event["deltas"]), "bytes": size, "rc": event["rc"]}

    # -- the figures ----------------------------------------------------------------------------
    def run(self, repeat: int) -> dict[str, Any]:
        o = self.out
        session, o["build_s"] = self.timed("build", lambda: Session.create(
            scenario(self.pages), self.xen))
        problems, o["audit_s"] = self.timed("audit (both hosts)", session.world.audit)
        o["audit_before"] = not problems
        mig = self.step("migrate all (begin, 1 round, suspend, restore)", session,
                        {"migrate": {"phase": "all", "rounds": 2}})
        o["peak_rss_bytes"] = _rss()  # the build and the migration: nothing else ran yet
        o["migrate_all_s"] = mig["s"]
        o["migrate_all_cpu_s"] = self.timings[-1]["cpu_s"]
        o["migrate_all_deltas"] = mig["deltas"]
        o["migrate_all_event_bytes"] = mig["bytes"]
        o["migration"] = session.world.migration.state if session.world.migration else None
        o["audit_after"] = not session.world.audit()
        _, o["snapshot_s"] = self.timed("snapshot (JSON-native)", session.snapshot)
        self.again(repeat)
        self.floor(session, repeat)
        self.hypercalls(session)
        o["largest_event_bytes"] = self.largest
        o["timings"] = self.timings
        o["ok"] = bool(o["audit_before"] and o["audit_after"] and o["floor_matches"]
                       and o["migration"] == "ok")
        for key, why in ENGINE_ONLY.items():
            o.setdefault(key, None)
            o.setdefault("missing", {})[key] = why
        return o

    def again(self, repeat: int) -> None:
        """`migrate all` on `repeat - 1` more fresh builds: migrate_all_s and _cpu_s are
        the best of all runs, as the floor's are (one run against the best of several
        would count the machine's noise against the engine). Deltas, bytes and peak RSS
        are the first run's."""
        o = self.out
        walls, cpus = [o["migrate_all_s"]], [o["migrate_all_cpu_s"]]
        for k in range(2, repeat + 1):
            fresh = Session.create(scenario(self.pages), self.xen)
            self.step(f"migrate all (run {k}, a fresh build)", fresh,
                      {"migrate": {"phase": "all", "rounds": 2}})
            walls.append(self.timings[-1]["seconds"])
            cpus.append(self.timings[-1]["cpu_s"])
            del fresh
        o["migrate_all_runs_s"] = walls
        o["migrate_all_s"], o["migrate_all_cpu_s"] = min(walls), min(cpus)

    def floor(self, engine: Session, repeat: int) -> None:
        """The whole-array floor on a fresh build of the same guest: best of `repeat`."""
        best = best_cpu = None
        problems: list[str] = []
        for _ in range(repeat):
            fresh = Session.create(scenario(self.pages), self.xen)
            w = fresh.world
            start, cpu = time.perf_counter(), time.process_time()
            dom = floor.migrate_all(w.guest, w.hosts["destination"])
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            best = took if best is None else min(best, took)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
            ew = engine.world
            problems = floor.differences(ew.hosts["destination"], ew.guest.p2m,
                                         w.hosts["destination"], dom.p2m)
            problems += floor.differences(ew.hosts["source"], ew.migration.src.p2m,
                                          w.hosts["source"], w.guest.p2m)
            del fresh, w, dom
        self.out["migrate_all_floor_s"] = best
        self.out["migrate_all_ratio"] = round(self.out["migrate_all_s"] / best, 2) if best else None
        self.out["migrate_all_floor_cpu_s"] = best_cpu
        self.out["migrate_all_cpu_ratio"] = round(
            self.out["migrate_all_cpu_s"] / best_cpu, 2) if best_cpu else None
        self.out["floor_matches"] = not problems
        if problems:
            self.out["floor_differences"] = problems[:10]

    def hypercalls(self, s: Session) -> None:
        """Single hypercalls on the migrated guest, then the L4's unpin that de-validates
        the whole tree (the base pointer moved to a fresh L4 first)."""
        n_l3, n_l2, n_l1 = linear_shape(self.pages)
        l3, first_l2, first_l1 = 1, 1 + n_l3, 1 + n_l3 + n_l2
        last_l1 = first_l1 + n_l1 - 1
        data = first_l1 + n_l1  # the first data page
        spare = self.pages - 1  # mapped by the last L1 at its last used index
        one = {
            "mmu_update_l1_entry": {"mmu_update": {"pfn": last_l1, "index": 0,
                                                   "entry": {"pfn": (n_l1 - 1) * 512,
                                                             "flags": ["present"]}}},
            "devalidate_one_l1": {"mmu_update": {"pfn": first_l2, "index": 0, "entry": 0}},
            "validate_one_l1": {"mmu_update": {"pfn": first_l2, "index": 0,
                                               "entry": {"pfn": first_l1, "flags": UPPER}}},
            "decrease_reservation": {"memory": {"cmd": "decrease_reservation", "pfn": data}},
            "populate_physmap": {"memory": {"cmd": "populate_physmap", "pfn": data}},
        }
        figures = {name: self.step(name, s, step) for name, step in one.items()}
        self.out["hypercalls"] = figures
        self.out["one_table_hypercall_max_s"] = max(f["s"] for f in figures.values())
        self.out["populate_physmap_s"] = figures["populate_physmap"]["s"]
        # One L2 and its (up to) 512 L1s: the second L2 when there is one.
        k = 1 if n_l2 > 1 else 0
        sub = self.step(f"devalidate an L2 subtree (L3[{k}] = 0)", s,
                        {"mmu_update": {"pfn": l3, "index": k, "entry": 0}})
        self.out["devalidate_l2_subtree_s"] = sub["s"]
        self.out["devalidate_l2_subtree_deltas"] = sub["deltas"]
        back = self.step(f"validate an L2 subtree (L3[{k}] restored)", s,
                         {"mmu_update": {"pfn": l3, "index": k,
                                         "entry": {"pfn": first_l2 + k, "flags": UPPER}}})
        self.out["validate_l2_subtree_s"] = back["s"]
        # A fresh L4 for the base pointer: unmap a page, make it the new base.
        spare_l1, spare_index = first_l1 + spare // 512, spare % 512
        self.step("unmap a page", s, {"mmu_update": {"pfn": spare_l1, "index": spare_index,
                                                     "entry": 0}})
        self.step("new_baseptr (an empty L4)", s,
                  {"mmuext": {"cmd": "new_baseptr", "pfn": spare}})
        unpin = self.step("unpin the L4 (de-validates the whole tree)", s,
                          {"mmuext": {"cmd": "unpin", "pfn": 0}})
        self.out["unpin_l4_s"] = unpin["s"]
        self.out["unpin_l4_deltas"] = unpin["deltas"]
        self.out["unpin_l4_event_bytes"] = unpin["bytes"]
        self.out["unpin_l4_rc"] = unpin["rc"]
        self.out["audit_after_hypercalls"] = not s.world.audit()


def run(pages: int, xen: str, repeat: int = 3) -> dict[str, Any]:
    return Bench(pages, xen).run(repeat)


def print_text(report: dict[str, Any], out: Any) -> None:
    print(f"pvframes bench: linear guest, {report['pages']} pages, {report['xen']} Xen", file=out)
    for item in report["timings"]:
        extra = (f"  {item['deltas']} deltas, {item['bytes']} bytes"
                 if "deltas" in item else "")
        print(f"  {item['seconds']:9.4f} s  ({item['cpu_s']:.4f} s CPU)  {item['what']}{extra}",
              file=out)
    print(f"  migrate all {report['migrate_all_s']:.3f} s against a floor of "
          f"{report['migrate_all_floor_s']:.3f} s (x{report['migrate_all_ratio']}; CPU time "
          f"x{report['migrate_all_cpu_ratio']}); floor "
          f"{'matches' if report['floor_matches'] else 'DIFFERS'}", file=out)
    print(f"  largest event {report['largest_event_bytes']} bytes; peak RSS "
          f"{report['peak_rss_bytes'] / 2**20:.0f} MiB", file=out)
    for key in ("reopen_s", "socketio_step_p99_s", "socketio_echo_p99_s"):
        value = report.get(key)
        shown = f"{value:.4f} s" if isinstance(value, float) else \
            report.get("missing", {}).get(key, "n/a")
        print(f"  {key}: {shown}", file=out)
    print(f"  audit before {'ok' if report['audit_before'] else 'FAILED'}, after "
          f"{'ok' if report['audit_after'] else 'FAILED'}", file=out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pvframes bench")
    p.add_argument("--pages", type=int, default=1_048_576)
    p.add_argument("--xen", choices=["patched", "unpatched"], default="patched")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of the migration and of the floor (the best of each is kept)")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None, out: Any = None,
         extra: Callable[[dict[str, Any], argparse.Namespace], None] | None = None) -> int:
    """`extra` adds figures measured elsewhere (the web app's) to the report."""
    out = out or sys.stdout
    args = parser().parse_args(argv)
    report = run(args.pages, args.xen, args.repeat)
    if extra is not None:
        extra(report, args)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
    else:
        print_text(report, out)
    return 0 if report["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
