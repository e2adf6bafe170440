"""`python -m engine.explore_bench`: the figures behind docs/explore.md's targets.

- throughput: explored steps per second per goal on a fresh 16-page bare guest;
- time to target: how long (and how many explored steps) until the Case 1 shape, the
  Case 2 wrong frame and the `xl` page loss are found, for a few seeds;
- restore cost: a walk's return to the start state by deep copy against rebuilding the
  start (Session.create) and replaying a prefix.
Wall-clock figures depend on the machine and its load; the explored-step counts do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .explore import Explorer, Finding, parse_guest
from .explore_goals import GOALS
from .explore_state import Lockstep
from .session import Session

TARGETS: dict[str, tuple[str, str, str, Callable[[Finding], bool]]] = {
    "case1": ("divergence", "bare:16", "default", lambda f: f.op == "migrate"
              and f.field.startswith("destination entries (L") and len(f.steps) <= 7),
    "case2-wrong-frame": ("stale-entry", "bare:16", "alike",
                          lambda f: f.field == "entry names another guest frame"),
    "xl-page-loss": ("lost", "bare:16", "default", lambda f: f.field == "page lost"),
    "xl-page-loss-linear": ("lost", "linear:64", "default", lambda f: f.field == "page lost"),
}


def throughput(goal: str, seconds: float, guest: str) -> dict[str, Any]:
    e = Explorer(goal, parse_guest(guest), seed=1, budget=seconds)
    e.run()
    p = e.progress
    return {"goal": goal, "guest": guest, "explored": p.explored, "seconds": round(p.elapsed, 2),
            "steps_per_s": round(p.rate), "cpu_seconds": round(p.cpu, 2),
            "steps_per_cpu_s": round(p.cpu_rate), "findings": p.findings, "replays": p.replays}


def time_to(target: str, seed: int, limit: float) -> dict[str, Any]:
    goal, guest, hosts, wanted = TARGETS[target]
    hit: list[Finding] = []
    start, cpu = time.monotonic(), time.process_time()
    e = Explorer(goal, parse_guest(guest, hosts), seed=seed, budget=limit,
                 on_finding=lambda f: hit.append(f) if wanted(f) and not hit else None,
                 should_stop=lambda: bool(hit))
    e.run()
    took, cpu = time.monotonic() - start, time.process_time() - cpu
    return {"target": target, "seed": seed, "found": bool(hit),
            "seconds": round(took, 2) if hit else None,
            "cpu_seconds": round(cpu, 2) if hit else None,
            "explored": hit[0].found_after if hit else e.progress.explored,
            "steps": len(hit[0].steps) if hit else None}


def restore_cost(repeat: int = 300) -> dict[str, Any]:
    scenario = parse_guest("bare:16")
    prefix = [{"mmu_update": {"pfn": 3, "index": 0, "entry": {"pfn": 5, "flags": ["present"]}}},
              {"mmuext": {"cmd": "pin_l1", "pfn": 3}}, {"mmuext": {"cmd": "unpin", "pfn": 3}}]
    lock = Lockstep(scenario, prefix)
    t = time.perf_counter()
    for _ in range(repeat):
        lock.restore()
    copy_us = (time.perf_counter() - t) / repeat * 1e6
    t = time.perf_counter()
    for _ in range(repeat):
        for xen in ("patched", "unpatched"):
            s = Session.create(scenario, xen)
            for raw in prefix:
                s.apply(raw)
    rebuild_us = (time.perf_counter() - t) / repeat * 1e6
    return {"deepcopy_restore_us": round(copy_us), "rebuild_and_replay_us": round(rebuild_us)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.explore_bench")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per time-to-target")
    parser.add_argument("--limit", type=float, default=60.0, help="give up on a target after")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = {
        "restore": restore_cost(),
        "throughput": [throughput(g, args.seconds, "bare:16") for g in GOALS]
        + [throughput("divergence", args.seconds, "linear:64")],
        "targets": [time_to(t, s, args.limit) for t in TARGETS for s in range(1, args.seeds + 1)],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    r = report["restore"]
    print(f"restore to the start: deep copy {r['deepcopy_restore_us']} us, rebuild + replay "
          f"{r['rebuild_and_replay_us']} us")
    for t in report["throughput"]:
        print(f"{t['goal']:17} {t['guest']:9} {t['steps_per_cpu_s']:6} steps per CPU second, "
              f"{t['steps_per_s']} per second ({t['explored']} in {t['seconds']} s, "
              f"{t['findings']} findings)")
    for t in report["targets"]:
        found = (f"{t['cpu_seconds']} CPU s ({t['seconds']} s), {t['explored']} steps "
                 f"explored, shrunk to {t['steps']}"
                 if t["found"] else f"not found in {args.limit:g} s ({t['explored']} steps)")
        print(f"{t['target']:18} seed {t['seed']}: {found}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
