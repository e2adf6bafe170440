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

# (guest, hosts, goal, explored-step budget)
RUNS = [(guest, hosts, goal, steps)
        for guest, steps in (("bare:16", 15000), ("linear:64", 4000))
        for hosts in ("default",)
        for goal in ("divergence", "lost", "migration-failed", "stale-entry",
                     "restore-refused")] + [("bare:16", "alike", "stale-entry", 15000)]
SEED = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.explore_catalogue")
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step budget")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kept: dict[tuple[str, ...], tuple[str, str, Finding]] = {}
    for guest, hosts, goal, steps in RUNS:
        e = Explorer(goal, parse_guest(guest, hosts), seed=SEED,
                     max_steps=int(steps * args.scale),
                     origin=f"pvframes explore --guest {guest}"
                     + (f" --hosts {hosts}" if hosts != "default" else "")
                     + f" --goal {goal} --seed {SEED} --max-steps {int(steps * args.scale)}")
        e.run()
        print(f"{goal} {guest} {hosts}: {len(e.findings)} findings in "
              f"{e.progress.explored} steps", file=sys.stderr)
        for f in e.findings:
            key = (f.goal, f.op, f.field, str(f.fn), f.xen)
            if key not in kept or len(f.steps) < len(kept[key][2].steps):
                kept[key] = (guest, hosts, f)
    print("| file | guest | goal | op | what shows it | Xen | decided by | steps |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, (guest, hosts, f) in enumerate(sorted(kept.values(), key=lambda k: (
            k[2].goal, k[2].field, len(k[2].steps))), start=1):
        layout = guest.replace(":", "")
        name = f"{n:02d}-{f.goal}-{layout}" + ("-alike" if hosts != "default" else "")
        scenario = {**f.scenario, "name": name}
        (out / f"{name}.yaml").write_text(to_yaml(scenario))
        print(f"| `{name}.yaml` | {guest}{' (hosts alike)' if hosts != 'default' else ''} "
              f"| {f.goal} | {f.op} | {f.field} | {f.xen} | {f.fn or ''} | {len(f.steps)} |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
