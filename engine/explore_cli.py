"""`pvframes explore [SCENARIO] [--guest bare:16] --goal G [--budget S] [--max-steps N]
[--seed S] [--depth D] [--out DIR] [--json]`: the command line around engine.explore.
A progress bar on stderr (steps explored per second, findings so far); findings are
written to --out as they arrive, so Ctrl-C keeps what was found."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from .errors import InvalidInput
from .explore import (
    DEFAULT_DEPTH,
    HOST_PRESETS,
    Explorer,
    Finding,
    Progress,
    parse_guest,
    start_from,
)
from .explore_goals import GOALS
from .scenario import load_file, validate

DEFAULT_BUDGET = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvframes explore",
        description="Search short step sequences that reach a goal; shrink each finding to a "
                    "minimal scenario that `pvframes run --xen both` replays.")
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO",
                        help="start from this scenario's end state (default: a fresh guest)")
    parser.add_argument("--guest", default="bare:16",
                        help="fresh guest LAYOUT:PAGES, bare or linear (default %(default)s)")
    parser.add_argument("--hosts", default="default", choices=HOST_PRESETS,
                        help="for a fresh guest: the contract's default hosts, or a "
                             "destination reserving what the source does (alike)")
    parser.add_argument("--goal", required=True, choices=GOALS)
    parser.add_argument("--budget", type=float, metavar="SECONDS",
                        help=f"stop after this long (default {DEFAULT_BUDGET:g} s unless "
                             "--max-steps is given)")
    parser.add_argument("--max-steps", type=int, metavar="N",
                        help="stop after exploring N steps: the same seed and N give the "
                             "same findings on any machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH,
                        help="longest sequence tried, in steps (default %(default)s)")
    parser.add_argument("--out", metavar="DIR", help="write each finding there as NAME.yaml")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def main(argv: list[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        if args.scenario:
            raw = load_file(args.scenario)
            validate(raw)
            header, prefix = start_from(raw)
        else:
            header, prefix = parse_guest(args.guest, args.hosts), []
        budget = args.budget if args.budget is not None or args.max_steps else DEFAULT_BUDGET
        outdir = Path(args.out) if args.out else None
        if outdir is not None:
            outdir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=args.max_steps, unit="step", file=sys.stderr, dynamic_ncols=True,
                   disable=None, desc=args.goal)
        interrupted = threading.Event()
        explorer = Explorer(args.goal, header, prefix, seed=args.seed, depth=args.depth,
                            max_steps=args.max_steps, budget=budget,
                            should_stop=interrupted.is_set,
                            on_progress=lambda p: show(bar, p),
                            on_finding=lambda f: found(bar, f, outdir, args.json, out))
    except InvalidInput as err:
        where = f"{err.field}: " if err.field else ""
        print(f"pvframes explore: {where}{err.message}", file=sys.stderr)
        return 2
    old = signal.signal(signal.SIGINT, lambda *_: on_sigint(interrupted))
    try:
        findings = explorer.run()
    finally:
        signal.signal(signal.SIGINT, old)
    bar.close()
    p = explorer.progress
    if args.json:
        print(json.dumps(report(explorer, findings), indent=2), file=out)
    else:
        print(f"{len(findings)} finding(s); {p.explored} steps explored in {p.elapsed:.1f} s "
              f"({p.rate:.0f}/s, {p.cpu_rate:.0f} per CPU second), {p.walks} walks, {p.hits} hits"
              + (f", {p.faults} model faults" if p.faults else "")
              + (f"; stopped: {p.stopped}" if p.stopped else ""), file=out)
    return 0


def on_sigint(interrupted: threading.Event) -> None:
    """The first Ctrl-C ends the search after the current walk, keeping every finding;
    a second one interrupts at once."""
    if interrupted.is_set():
        raise KeyboardInterrupt
    interrupted.set()


def show(bar: tqdm, p: Progress) -> None:
    bar.n = p.explored
    bar.set_postfix(findings=p.findings, rate=f"{p.rate:.0f}/s", refresh=False)
    bar.refresh()


def found(bar: tqdm, f: Finding, outdir: Path | None, quiet: bool, out: Any) -> None:
    if outdir is not None:
        (outdir / f"{f.name}.yaml").write_text(to_yaml(f.scenario))
    if not quiet:
        bar.write(f"#{f.number} {f.goal}: {f.op}: {f.field}"
                  + (f" [{f.fn}]" if f.fn else "")
                  + f" ({f.xen}; {len(f.steps)} steps, from {f.unshrunk})", file=out)


def to_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=100)


def report(explorer: Explorer, findings: list[Finding]) -> dict[str, Any]:
    return {"goal": explorer.goal, "seed": explorer.seed, "depth": explorer.depth,
            "max_steps": explorer.max_steps, "budget": explorer.budget,
            "progress": explorer.progress.as_dict(),
            "findings": [f.as_dict() for f in findings]}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
