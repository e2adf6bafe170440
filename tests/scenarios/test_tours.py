"""The guided tours shipped in examples/tours/: each passes under both Xen variants, and
`ask` steps are checked against the engine (a wrong answer key fails the run)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import InvalidInput
from engine.runner import main
from engine.scenario import validate
from engine.session import Session

TOURS = sorted((Path(__file__).resolve().parents[2] / "examples" / "tours").glob("*.yaml"))


def test_the_tours_are_there() -> None:
    names = {p.stem for p in TOURS}
    assert {"tour-case1", "tour-case2", "tour-wrong-frame", "tour-mid-validation",
            "tour-live-deferral", "tour-xsa182-linear", "tour-xl-lost-page"} <= names


@pytest.mark.parametrize("path", TOURS, ids=[p.stem for p in TOURS])
def test_tour_passes_under_both_variants_and_asks_questions(path: Path) -> None:
    out = io.StringIO()
    assert main([str(path), "--xen", "both"], out) == 0, out.getvalue()
    steps = yaml.safe_load(path.read_text())["steps"]
    assert any("ask" in s for s in steps) and sum("note" in s for s in steps) >= 3


def _doc(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "ask", "xen": "unpatched", "steps": list(steps)}


PIN_ASK = {"ask": {"question": "q", "about": "rc", "choices": ["ok", "-EINVAL"], "answer": 1}}
PIN = {"mmuext": {"cmd": "pin_l4", "pfn": 0}}


def test_an_rc_ask_is_answered_by_the_next_operation() -> None:
    s = Session.create(_doc(PIN_ASK, {"note": "n"}, PIN))
    ask, note, pin = s.run_next(None)
    assert ask["result"] == "ask" and ask["assertions"] == [] and "answers" not in note
    assert pin["answers"] == ask["seq"]
    assert pin["assertions"] == [{"what": "ask: rc", "expected": "-EINVAL",
                                  "actual": "-EINVAL", "ok": True}]


def test_a_wrong_answer_key_fails_the_run(tmp_path: Path) -> None:
    wrong = {"ask": {**PIN_ASK["ask"], "answer": 0}}
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(_doc(wrong, PIN)))
    out = io.StringIO()
    assert main([str(path)], out) == 1
    assert "ask: rc: expected 'ok', got '-EINVAL'" in out.getvalue()


def test_a_check_ask_holds_only_for_its_answer() -> None:
    steps = [{"mmu_update": {"pfn": 3, "index": 40, "entry": {"pfn": 40, "flags": ["present"]}}},
             {"mmuext": {"cmd": "pin_l1", "pfn": 40}}, {"mmuext": {"cmd": "unpin", "pfn": 40}}]
    ask = {"ask": {"question": "q", "about": {"check": {"pfinfo": {"pfn": 40}}, "field": "is"},
                   "choices": ["L1TAB", "NOTAB"], "answer": {"unpatched": 0, "patched": 1}}}
    for xen, actual in (("unpatched", "L1TAB"), ("patched", "NOTAB")):
        s = Session.create(_doc(*steps, ask), xen)
        ev = s.run_next(None)[-1]
        assert [(a["actual"], a["ok"]) for a in ev["assertions"]] == [(actual, True)]
    # Two choices that both hold make the key ambiguous: the run fails.
    both = {"ask": {**ask["ask"], "choices": ["L1TAB", "l1tab"], "answer": 0}}
    ev = Session.create(_doc(*steps, both), "unpatched").run_next(None)[-1]
    assert not all(a["ok"] for a in ev["assertions"])


@pytest.mark.parametrize("ask,field", [
    ({"question": "q", "about": "rc", "choices": ["ok", "-EINVAL"], "answer": 2},
     "steps[1].ask.answer"),
    ({"question": "q", "about": "rc", "choices": ["ok", "maybe"], "answer": 0},
     "steps[1].ask.choices[1]"),
    ({"question": "q", "about": {"check": {"frame": {"pfn": 1}}, "field": "colour"},
      "choices": [1, 2], "answer": 0}, "steps[1].ask.choices[0]"),
    ({"question": "q", "about": "rc", "choices": ["ok"], "answer": 0}, "steps[1].ask.choices"),
])
def test_bad_asks_name_the_field(ask: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate(_doc({"ask": ask}, PIN))
    assert err.value.field == field


def test_an_rc_ask_needs_a_step_to_answer_it() -> None:
    with pytest.raises(InvalidInput) as err:
        validate(_doc({"check": {"audit": "ok"}}, PIN_ASK))
    assert err.value.field == "steps[2].ask.about"
