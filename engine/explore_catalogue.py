"""`python -m engine.explore_catalogue --out examples/found`: run `pvframes explore` for
every goal from a fresh bare and a fresh linear guest (fixed seeds and step budgets, so
the catalogue can be rebuilt exactly), keep one finding per signature across all runs
(the shortest), write them as scenarios and print a Markdown index for docs/explore.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .explore import Explorer, Finding, parse_guest
from .explore_cli import to_yaml

# (guest, hosts, goal, explored-step budget), each run with every seed of SEEDS
RUNS = [(guest, "default", goal, steps * (3 if goal == "restore-refused" else 1))
        for guest, steps in (("bare:16", 15000), ("linear:64", 8000))
        for goal in ("divergence", "lost", "migration-failed", "stale-entry",
                     "restore-refused")] + [("bare:16", "alike", "stale-entry", 15000)]
SEEDS = (1, 2)


def slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(w for w in words if w not in ("a", "the", "with"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.explore_catalogue")
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step budget")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kept: dict[tuple[str, ...], tuple[str, str, Finding]] = {}
    for (guest, hosts, goal, steps), seed in [(r, s) for r in RUNS for s in SEEDS]:
        e = Explorer(goal, parse_guest(guest, hosts), seed=seed,
                     max_steps=int(steps * args.scale),
                     origin=f"pvframes explore --guest {guest}"
                     + (f" --hosts {hosts}" if hosts != "default" else "")
                     + f" --goal {goal} --seed {seed} --max-steps {int(steps * args.scale)}")
        e.run()
        print(f"{goal} {guest} {hosts} seed {seed}: {len(e.findings)} findings in "
              f"{e.progress.explored} steps", file=sys.stderr)
        for f in e.findings:
            key = (f.goal, f.op, f.field, str(f.fn), f.xen)
            if key not in kept or len(f.steps) < len(kept[key][2].steps):
                kept[key] = (guest, hosts, f)
    print("| file | guest | goal | op | what shows it | Xen | decided by | steps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    names: set[str] = set()
    for guest, hosts, f in sorted(kept.values(), key=lambda k: (k[2].goal, k[2].field,
                                                                 len(k[2].steps))):
        layout = guest.replace(":", "") + ("-alike" if hosts != "default" else "")
        variant = "" if f.xen == "both" else f"-{f.xen}-only"
        op = "" if f.op == "migrate" else f"-{slug(f.op)}"
        name = f"{f.goal}{op}-{slug(f.field)}{variant}-{layout}"
        if name in names:
            name = f"{f.goal}{op}-{slug(f.field)}-{slug(f.fn or '')}{variant}-{layout}"
        names.add(name)
        scenario = {**f.scenario, "name": name}
        (out / f"{name}.yaml").write_text(to_yaml(scenario))
        print(f"| `{name}.yaml` | {guest}{' (hosts alike)' if hosts != 'default' else ''} "
              f"| {f.goal} | {f.op} | {f.field} | {f.xen} | {f.fn or ''} | {len(f.steps)} |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
