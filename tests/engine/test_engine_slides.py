"""engine.slides: the grid as SVG for slides, and `pvframes run --snapshot STEP --svg OUT`."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from engine import runner
from engine.errors import InvalidInput
from engine.session import Session
from engine.slides import grid_svg

SVG = "{http://www.w3.org/2000/svg}"
CASE1 = Path(__file__).resolve().parents[3] / "shared" / "scenarios" / "case1-devalidated-l2.yaml"
STEPS = [
    {"mmu_update": {"pfn": 3, "index": 20, "entry": {"pfn": 20, "flags": ["present"]}}},
    {"mmu_update": {"pfn": 3, "index": 21, "entry": {"pfn": 21, "flags": ["present"]}}},
    {"mmu_update": {"pfn": 21, "index": 0, "entry": {"pfn": 30, "flags": ["present", "rw"]}}},
    {"mmu_update": {"pfn": 20, "index": 0,
                    "entry": {"pfn": 21, "flags": ["present", "rw", "user", "accessed"]}}},
    {"mmuext": {"cmd": "pin_l2", "pfn": 20}},
]


def session_after(steps: list[dict]) -> Session:
    session = Session.create({"name": "slide", "guest": {"pages": 64, "layout": "linear"}},
                             "unpatched")
    for step in steps:
        assert session.apply(step)["rc"] == 0, step
    return session


def cells(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if g.find(f"{SVG}rect") is not None]


def test_one_cell_per_guest_page_with_its_type_letter() -> None:
    svg = grid_svg(session_after(STEPS))
    groups = cells(svg)
    assert len(groups) == 64
    letters = {g.find(f"{SVG}title").text.split(":")[0]: g.find(f"{SVG}text").text
               for g in groups}
    assert letters["PFN 20"] == "L2" and letters["PFN 21"] == "L1" and letters["PFN 9"] == "W"
    assert "L2: L2 page table" in svg and "black corner: pinned" in svg


def test_unpinning_hatches_the_devalidated_tables() -> None:
    pinned = session_after(STEPS)
    assert "url(#hatch-l2)" not in grid_svg(pinned)
    unpinned = session_after([*STEPS, {"mmuext": {"cmd": "unpin", "pfn": 20}}])
    svg = grid_svg(unpinned)
    fills = [g.find(f"{SVG}rect").get("fill") for g in cells(svg)]
    assert fills.count("url(#hatch-l2)") == 1 and fills.count("url(#hatch-l1)") == 1
    assert "de-validated page table" in svg


def test_the_selected_tables_entries_are_arrows() -> None:
    session = session_after(STEPS)
    mfn = int(session.snapshot()["guest"]["p2m"][20])
    host = session.snapshot()["guest"]["host"]
    root = ET.fromstring(grid_svg(session, "guest", (host, mfn)))
    arrows = list(root.iter(f"{SVG}line"))
    assert [a.find(f"{SVG}title").text for a in arrows] == ["entry 0"]   # L2[0] -> the L1
    assert not list(ET.fromstring(grid_svg(session)).iter(f"{SVG}line"))


def test_a_bad_view_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        grid_svg(session_after([]), "sideways")
    assert err.value.field == "view"


@pytest.mark.skipif(not CASE1.exists(), reason="the shared scenarios are not beside the repo")
def test_pvframes_run_snapshot_svg(tmp_path: Path) -> None:
    out = tmp_path / "slide.svg"
    code = runner.main([str(CASE1), "--xen", "unpatched", "--snapshot", "5", "--svg", str(out)],
                       io.StringIO())
    assert code == 0
    svg = out.read_text()
    assert "seq 5" in svg and len(cells(svg)) == yaml.safe_load(CASE1.read_text())["guest"][
        "pages"]
    assert runner.main([str(CASE1), "--xen", "unpatched", "--snapshot", "999", "--svg",
                        str(out)], io.StringIO()) == 2
