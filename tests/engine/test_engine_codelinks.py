"""Every function the engine names (in deltas and failure messages) has an entry in the
table of Xen source locations, for both releases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.codelinks import lookup, table, url
from engine.scenario import load_file
from engine.session import Session

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted([*REPO.glob("examples/*.yaml"), *REPO.glob("examples/tours/*.yaml"),
                    *(REPO.parent / "shared" / "scenarios").glob("*.yaml")])
# `fn` strings built from a level: every level the engine can put in them.
TEMPLATES = {"get_page_from_l{}e": (1, 2, 3, 4), "mod_l{}_entry": (1, 2, 3, 4),
             "promote_l{}_table": (1, 2, 3, 4), "get_l{}_linear_pagetable": (2, 3, 4),
             "adjust_guest_l{}e": (1, 2, 3, 4)}
# The string literals the engine passes as a function name: `fn = "..."`, `fn="..."`, the
# last argument of a journal write (h.set(mfn, "count", 1, "get_page_from_l1e")), the
# second of fail().
LITERALS = [
    re.compile(r'\bfn\s*=\s*"([^"{]+)"'),
    re.compile(r'\.(?:set|add|set_many|add_many|write_entry|replace_contents|set_p2m|set_p2m_many|'
               r'set_m2p|set_m2p_many|set_flag|assign|clean_dirty|paging_mark_dirty|set_cr3|'
               r'put_page|get_page|_destroy)\((?:[^()"]|"[^"]*"|\([^()]*\))*?,\s*"([^"{]+)"\)'),
    re.compile(r'\bfail\(\w+, "([^"{]+)"'),
]


def emitted_by_scenarios() -> set[str]:
    names = set()
    for path in SCENARIOS:
        for xen in ("patched", "unpatched"):
            s = Session.create(load_file(path), xen)
            for ev in s.run_next(None):
                names |= {d["fn"] for d in ev["deltas"] if d.get("fn")}
                if ev.get("failure"):
                    names.add(ev["failure"]["fn"])
    return names


def test_scenarios_name_many_functions_and_all_are_in_the_table() -> None:
    names = emitted_by_scenarios()
    assert len(names) > 40
    missing = sorted(n for n in names if lookup(n) is None)
    assert missing == []


def test_templated_and_literal_names_are_in_the_table() -> None:
    names = {t.format(level) for t, levels in TEMPLATES.items() for level in levels}
    source = "\n".join(p.read_text() for p in (REPO / "engine").glob("*.py"))
    literals = {m for pattern in LITERALS for m in pattern.findall(source)}
    assert {"get_page_from_l1e", "domain_kill (source)", "do_mmuext_op"} <= literals
    missing = sorted(n for n in names | literals if lookup(n) is None)
    assert missing == []


@pytest.mark.parametrize("version,tag,line", [("4.15", "RELEASE-4.15.0", 855),
                                               ("4.16", "RELEASE-4.16.0", 855)])
def test_urls_point_at_the_tag_and_line(version: str, tag: str, line: int) -> None:
    assert url("get_page_from_l1e", version) == (
        f"https://github.com/xen-project/xen/blob/{tag}/xen/arch/x86/mm.c#L{line}")
    assert url("put_page (partial reference)", version).startswith(
        f"https://github.com/xen-project/xen/blob/{tag}/xen/arch/x86/mm.c#L")
    assert url("guest P2M", version) is None and lookup("guest P2M")["not_xen"]


def test_the_domctl_entry_is_where_the_patch_is() -> None:
    where = table()["functions"]["getpageframeinfo3"]
    assert where["4.15"]["file"] == where["4.16"]["file"] == "xen/arch/x86/domctl.c"
