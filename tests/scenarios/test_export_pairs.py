"""An export of a session made from a scenario keeps its `{patched, unpatched}` pairs, so
it runs under either variant, as the scenario did."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from engine.runner import main
from engine.session import Session

TOUR = Path(__file__).resolve().parents[2] / "examples" / "tours" / "tour-case1.yaml"


def test_export_keeps_variant_pairs_and_runs_under_both(tmp_path: Path) -> None:
    s = Session.create(TOUR.read_text(), "patched")
    s.run_next(None)
    s.apply({"mmuext": {"cmd": "unpin", "pfn": 0}})  # a manual step after the script
    doc = yaml.safe_load(s.export_yaml())
    pin = next(st for st in doc["steps"] if st.get("mmuext", {}).get("cmd") == "pin_l2"
               and isinstance(st.get("expect"), dict) and "patched" in st["expect"])
    assert pin["expect"] == {"unpatched": "ok", "patched": {"rc": "-EINVAL"}}
    assert doc["steps"][-1] == {"mmuext": {"cmd": "unpin", "pfn": 0}}
    path = tmp_path / "export.yaml"
    path.write_text(s.export_yaml())
    out = io.StringIO()
    assert main([str(path), "--xen", "both"], out) == 0, out.getvalue()
