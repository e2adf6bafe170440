"""`pvframes run FILE... [--xen patched|unpatched|both] [--json] [--verbose]`
(contract section 4). Exit 0: every assertion holds; 1: one failed; 2: invalid input."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .divergence import divergences
from .errors import InvalidInput
from .packing import unpack
from .scenario import XEN_VARIANTS, Position, load_file, validate
from .session import Session


@dataclass
class Run:
    file: str
    name: str
    xen: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(a["ok"] for e in self.events for a in e["assertions"])

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "xen": self.xen, "passed": self.passed,
                "steps": [{"n": e["n"], "op": e["op"], "rc": e["rc"],
                           "assertions": e["assertions"]} for e in self.events]}


def variants_for(raw: dict[str, Any], xen: str | None) -> list[str]:
    if xen == "both":
        return list(XEN_VARIANTS)
    return [xen or raw.get("xen") or "patched"]


def load_all(files: list[str], xen: str | None) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Validate every file under every variant it will run with, before anything runs."""
    loaded = []
    for file in files:
        raw = load_file(file)
        variants = variants_for(raw if isinstance(raw, dict) else {}, xen)
        for variant in variants:
            try:
                validate(raw, variant)
            except InvalidInput as err:
                where = f" ({variant})" if len(variants) > 1 else ""
                raise InvalidInput(err.field, f"{file}{where}: "
                                   f"{_where(err.field)}{err.message}") from None
        loaded.append((file, raw, variants))
    return loaded


def _where(field: str) -> str:
    if field.startswith("steps["):
        number, _, rest = field[len("steps["):].partition("]")
        rest = rest.lstrip(".")
        return f"step {number}: {rest}: " if rest else f"step {number}: "
    return f"{field}: " if field else ""


def run_one(file: str, raw: dict[str, Any], xen: str) -> Run:
    session = Session.create(raw, xen)
    run = Run(file, session.scenario.name, xen)
    for n, step in enumerate(raw.get("steps") or [], start=1):
        event = session.apply(step, n)
        run.events.append({**event, "n": n})
    return run


def describe_step(event: dict[str, Any]) -> str:
    step = event["step"]
    op = event["op"]
    if op == "note":
        return "note"
    if op == "ask":
        return f"ask {step['ask']['question']!r}"
    body = step[op]
    return f"{op} {json.dumps(body, separators=(',', ':'))}"


def print_text(runs: list[Run], verbose: bool, out: Any) -> None:
    for run in runs:
        for event in run.events:
            if verbose:
                rc = "" if event["op"] in ("check", "note", "ask") else f" -> rc {event['rc']}" + (
                    f" ({event['errno']})" if event["errno"] else "")
                if event["op"] == "migrate":
                    rc = f" -> {event['result']}" + (
                        f": {event['message']}" if event.get("message") else "")
                print(f"{run.file} [{run.xen}] step {event['n']}: {describe_step(event)}{rc}",
                      file=out)
                if event.get("message") and event["op"] != "migrate":
                    print(f"    why: {event['message']}", file=out)
                for delta in event["deltas"]:
                    print("    " + format_delta(delta), file=out)
            for a in event["assertions"]:
                if not a["ok"]:
                    print(f"{run.file} [{run.xen}] step {event['n']} ({event['op']}): "
                          f"{a['what']}: expected {a['expected']!r}, got {a['actual']!r}",
                          file=out)
        total = sum(len(e["assertions"]) for e in run.events)
        failed = sum(1 for e in run.events for a in e["assertions"] if not a["ok"])
        status = "PASS" if run.passed else "FAIL"
        print(f"{status} {run.file} [{run.xen}]: {total - failed}/{total} assertions hold",
              file=out)


def format_delta(delta: dict[str, Any]) -> str:
    kind = delta.get("kind")
    fn = delta.get("fn", "")
    if kind == "frame":
        return (f"{delta['host']} mfn {delta['mfn']}: {delta['field']} {delta['old']} -> "
                f"{delta['new']}  [{fn}]")
    if kind == "entry":
        return (f"{delta['host']} mfn {delta['mfn']}[{delta['index']}]: {delta['old']} -> "
                f"{delta['new']}  [{fn}]")
    if kind == "migration" and delta.get("event") == "batch":
        counts: dict[str, int] = {}
        for action in unpack(delta["actions"]):
            counts[action] = counts.get(action, 0) + 1
        detail = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        n = delta.get("batches", 1)
        return f"migration round {delta['round']} ({delta['phase']}) " \
               f"{'batch' if n == 1 else f'{n} batches'} of {sum(counts.values())}: " \
               f"{detail}  [{fn}]"
    if kind in ("frames", "pages", "m2p_many", "p2m_many", "dirty_many", "dirty_clean"):
        cells = unpack(delta["pfns"] if "pfns" in delta else delta["mfns"])
        what = f" {delta['field']}" if "field" in delta else ""
        new = f" -> {delta['new']}" if kind == "frames" and not isinstance(
            delta["new"], dict | list) else ""
        return f"{kind} {delta['host']}: {len(cells)} slots{what}{new}  [{fn}]"
    rest = {k: v for k, v in delta.items() if k not in ("kind", "fn")}
    text = json.dumps(rest, separators=(",", ":"))
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{kind}: {text}  [{fn}]" if fn else f"{kind}: {text}"


def main(argv: list[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="pvframes run",
                                     description="Run pvframes scenarios.")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--xen", choices=["patched", "unpatched", "both"])
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--verbose", action="store_true", help="print every step's deltas")
    parser.add_argument("--snapshot", type=int, metavar="STEP",
                        help="with --svg: draw the grid after the first STEP steps "
                        "(default: the file's position.seq)")
    parser.add_argument("--svg", metavar="OUT", help="write the grid as SVG (a slide) to OUT")
    parser.add_argument("--view", choices=["guest", "source", "destination"],
                        help="with --svg: which grid (default: the file's position, or guest)")
    parser.add_argument("--frame", metavar="HOST:MFN",
                        help="with --svg: select this frame and draw its entries "
                        "(default: the file's position.frame)")
    args = parser.parse_args(argv)
    if args.svg or args.snapshot is not None:
        return write_slide(args, parser)
    try:
        loaded = load_all(args.files, args.xen)
    except InvalidInput as err:
        print(f"invalid scenario: {err.message}", file=sys.stderr)
        return 2
    runs: list[Run] = []
    for file, raw, variants in loaded:
        runs += [run_one(file, raw, v) for v in variants]
    report = divergence_report(runs) if args.xen == "both" else []
    passed = all(r.passed for r in runs)
    if args.json:
        doc: dict[str, Any] = {"runs": [r.as_json() for r in runs], "passed": passed}
        if args.xen == "both":
            doc["divergences"] = report
        print(json.dumps(doc, indent=2), file=out)
    else:
        print_text(runs, args.verbose, out)
        for item in report:
            print(item["text"], file=out)
        n_fail = sum(1 for r in runs if not r.passed)
        print(f"{len(runs) - n_fail} passed, {n_fail} failed", file=out)
    return 0 if passed else 1


def write_slide(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`--svg OUT [--snapshot STEP]`: one scenario, one variant, the grid after STEP steps.
    What the options leave out comes from the file's `position` (the moment it was
    exported at): its seq, view, frame and variant. Checks are not run here."""
    from .slides import grid_svg

    if not args.svg or len(args.files) != 1 or args.xen == "both":
        parser.error("--svg OUT draws one FILE under one variant (--snapshot STEP with it)")
    selected = None
    if args.frame:
        host, _, mfn = args.frame.partition(":")
        if host not in ("source", "destination") or not mfn.isdigit():
            parser.error("--frame must be HOST:MFN, e.g. source:296")
        selected = (host, int(mfn))
    try:
        (file, raw, _variants), = load_all(args.files, args.xen)
        pos = validate(raw).position
        if args.snapshot is None and pos is None:
            raise InvalidInput("snapshot", f"{file} has no position: give --snapshot STEP")
        variant = args.xen or (pos.variant if pos and pos.variant else None)
        session = Session.create(raw, variant)
        steps = raw.get("steps") or []
        snapshot = args.snapshot if args.snapshot is not None else (pos.seq if pos else 0)
        if not 0 <= snapshot <= len(steps):
            raise InvalidInput("snapshot", f"{file} has {len(steps)} steps; STEP must be "
                               f"0..{len(steps)}")
        if selected is None and pos is not None and pos.frame is not None:
            selected = (pos.frame.on, pos.frame.mfn)
        for n, step in enumerate(steps[:snapshot], start=1):
            session.apply(step, n)
        text = grid_svg(session, args.view or slide_view(pos, selected), selected)
    except InvalidInput as err:
        print(f"invalid: {err.field + ': ' if err.field else ''}{err.message}", file=sys.stderr)
        return 2
    Path(args.svg).write_text(text, encoding="utf-8")
    return 0


def slide_view(pos: Position | None, selected: tuple[str, int] | None) -> str:
    """A slide is one grid: the position's view, or for `both` the selected frame's host
    (the source's without one), as the page's SVG export draws it."""
    if pos is None:
        return "guest"
    if pos.view == "both":
        return selected[0] if selected else "source"
    return pos.view


def divergence_report(runs: list[Run]) -> list[dict[str, Any]]:
    by_file: dict[str, dict[str, Run]] = {}
    for run in runs:
        by_file.setdefault(run.file, {})[run.xen] = run
    report = []
    for file, pair in by_file.items():
        if set(pair) != set(XEN_VARIANTS):
            continue
        items = divergences(pair["unpatched"].events, pair["patched"].events)
        name = Path(file).name
        lines = [f"Divergence, {name}: unpatched (Xen <= 4.15) vs patched (0a87e677f4, "
                 "Xen >= 4.16)"]
        lines += [f"  {item}" for item in items] or ["  none: both variants behave alike"]
        report.append({"file": file, "items": items, "text": "\n".join(lines)})
    return report


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
