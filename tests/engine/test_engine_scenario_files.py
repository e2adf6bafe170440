"""The shared and example scenarios run through Session.apply() under both variants:
every `expect` and `check` holds and the audit holds after every step."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.session import Session

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/xtf/*.yaml"),
                *Path("/work/shared/scenarios").glob("*.yaml")])


@pytest.mark.skipif(not FILES, reason="no scenario files")
@pytest.mark.parametrize("xen", ["unpatched", "patched"])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_file_holds_step_by_step(path, xen):
    doc = yaml.safe_load(path.read_text())
    s = Session.create(doc, xen)
    for n, step in enumerate(doc.get("steps") or [], start=1):
        ev = s.apply(step, n)
        failed = [a for a in ev["assertions"] if not a["ok"]]
        assert not failed, f"step {n} {step}: {failed}"
        problems = s.world.audit()
        assert problems == [], f"audit after step {n} {step}: {problems}"
