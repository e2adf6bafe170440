"""Every shared and example scenario (the XTF ports in examples/xtf too) passes under both
Xen variants, and both hosts audit clean at the end (and after every step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runner import run_one
from engine.scenario import load_file
from engine.session import Session

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "scenarios"
FILES = (sorted(SHARED.glob("*.yaml")) + sorted((REPO / "examples").glob("*.yaml"))
         + sorted((REPO / "examples" / "xtf").glob("*.yaml")))


def test_the_shared_scenarios_are_here() -> None:
    """CI checks out ../shared beside the repository; without it these tests mean nothing."""
    assert len(list(SHARED.glob("*.yaml"))) >= 3, f"no shared scenarios in {SHARED}"


@pytest.mark.parametrize("xen", ["unpatched", "patched"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario_passes(path: Path, xen: str) -> None:
    run = run_one(str(path), load_file(path), xen)
    failed = [(e["n"], a) for e in run.events for a in e["assertions"] if not a["ok"]]
    assert not failed, failed
    assert any(e["assertions"] for e in run.events), "a scenario that asserts nothing"


@pytest.mark.parametrize("xen", ["unpatched", "patched"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_audit_holds_after_every_step(path: Path, xen: str) -> None:
    raw = load_file(path)
    session = Session.create(raw, xen)
    for n, step in enumerate(raw["steps"], start=1):
        session.apply(step, n)
        assert session.world.audit() == [], f"after step {n}"
    for host in ("source", "destination"):
        from engine.audit import audit

        assert audit(session.world.hosts[host], session.world.domain_on(host)) == []


def test_case1_diverges_and_case2_does_not() -> None:
    """The patch changes Case 1 only: under patched Xen it behaves like Case 2."""
    case1 = load_file(SHARED / "case1-devalidated-l2.yaml")
    pins = {}
    for xen in ("unpatched", "patched"):
        run = run_one("case1", case1, xen)
        pins[xen] = [e["rc"] for e in run.events if e["op"] == "mmuext"][-1]
    assert pins == {"unpatched": 0, "patched": -22}
    case2 = load_file(SHARED / "case2-written-before-migration.yaml")
    rcs = {xen: [e["rc"] for e in run_one("case2", case2, xen).events]
           for xen in ("unpatched", "patched")}
    assert rcs["unpatched"] == rcs["patched"]
