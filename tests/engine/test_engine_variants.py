"""`{patched: X, unpatched: Y}` at any depth of a check or an expect (contract v2,
section 2): the value for the variant being run applies, the page selector included."""

from __future__ import annotations

import pytest

from engine.errors import InvalidInput
from engine.session import Session


def _run(steps, xen):
    s = Session.create({"name": "variants", "xen": "patched", "steps": steps}, xen)
    return [s.apply(step, n) for n, step in enumerate(steps, start=1)]


@pytest.mark.parametrize("xen, pfn, typ", [("unpatched", 9, "writable"), ("patched", 1, "l3")])
def test_page_selector_takes_the_variant_value(xen, pfn, typ):
    (ev,) = _run([{"check": {"frame": {"pfn": {"unpatched": 9, "patched": 1}},
                             "type": {"unpatched": "writable", "patched": "l3"}}}], xen)
    (a,) = ev["assertions"]
    assert a["ok"] and a["what"] == f"frame pfn {pfn} on source: type" and a["actual"] == typ
    assert ev["step"]["check"]["frame"] == {"pfn": pfn}  # the event shows the resolved step


@pytest.mark.parametrize("xen", ["unpatched", "patched"])
def test_variants_inside_selectors_lists_and_expects(xen):
    """Kernel L1 (PFN 3): entry 0 maps the L4 read-only, entry 4 a data page read-write."""
    index = {"unpatched": 0, "patched": 4}[xen]
    steps = [
        {"check": {"entry": {"pfn": 3, "index": {"unpatched": 0, "patched": 4}},
                   "maps_pfn": {"unpatched": 0, "patched": 4},
                   "flags": {"unpatched": ["present", "user"],
                             "patched": ["present", "rw", "user"]}}},
        # A variant as one element of a list.
        {"check": {"entry": {"pfn": 3, "index": 4},
                   "flags": [{"unpatched": "present", "patched": "rw"},
                             {"unpatched": "rw", "patched": "present"}, "user"]}},
        {"mmuext": {"cmd": "pin_l1", "pfn": 9},
         "expect": {"rc": {"unpatched": "-EINVAL", "patched": "-EINVAL"}}},
    ]
    events = _run(steps, xen)
    assert [a["ok"] for ev in events for a in ev["assertions"]] == [True] * 4
    assert events[0]["step"]["check"]["entry"] == {"pfn": 3, "index": index}
    assert events[0]["assertions"][0]["actual"] == index


def test_variants_stay_inside_checks_and_expects():
    """Elsewhere a `{patched, unpatched}` mapping is not a value: refused, field named."""
    steps = [{"mmu_update": {"pfn": 3, "index": {"unpatched": 40, "patched": 41},
                             "entry": 0}}]
    with pytest.raises(InvalidInput) as err:
        _run(steps, "patched")
    assert err.value.field == "steps[1].mmu_update.index"


def test_a_half_variant_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as err:
        _run([{"check": {"frame": {"pfn": {"patched": 1}}, "type": "l3"}}], "patched")
    assert err.value.field == "steps[1].check.frame.pfn"
