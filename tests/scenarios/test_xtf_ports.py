"""The XTF ports in examples/xtf: the index lists every XTF xsa test once, every port is
in it, each port names the test it comes from, and `pvframes run --xen both` passes them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml

from engine.runner import main

XTF = Path(__file__).resolve().parents[2] / "examples" / "xtf"
PORTS = sorted(XTF.glob("*.yaml"))
ROW = re.compile(r"^\| (xsa-[0-9a-z-]+) \| [^|]+ \| ([^|]+) \| (.+) \|$", re.M)
# Every tests/xsa-*/ directory of andyhhp/xtf at the commit the index names.
XTF_TESTS = {
    "xsa-7", "xsa-122", "xsa-123", "xsa-167", "xsa-168", "xsa-170", "xsa-173", "xsa-182",
    "xsa-183", "xsa-185", "xsa-186", "xsa-188", "xsa-191", "xsa-192", "xsa-193", "xsa-194",
    "xsa-195", "xsa-196", "xsa-200", "xsa-203", "xsa-204", "xsa-212", "xsa-213", "xsa-221",
    "xsa-224", "xsa-227", "xsa-231", "xsa-232", "xsa-234", "xsa-239", "xsa-255", "xsa-259",
    "xsa-260", "xsa-261", "xsa-265", "xsa-269", "xsa-277", "xsa-278", "xsa-279", "xsa-286",
    "xsa-296", "xsa-298", "xsa-304", "xsa-308", "xsa-316", "xsa-317", "xsa-333", "xsa-339",
    "xsa-444", "xsa-451", "xsa-454", "xsa-462", "xsa-463", "xsa-470", "xsa-472-1",
    "xsa-472-2", "xsa-472-3", "xsa-consoleio-write",
}


def index_rows() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for test, status, why in ROW.findall((XTF / "README.md").read_text()):
        assert test not in rows, f"{test} is listed twice"
        rows[test] = (status.strip(), why.strip())
    return rows


def test_the_index_lists_every_xtf_xsa_test_with_a_reason() -> None:
    rows = index_rows()
    assert set(rows) == XTF_TESTS
    for test, (status, why) in rows.items():
        assert status.startswith(("[", "not expressible", "ported")), (test, status)
        assert len(why) > 20, f"{test}: say why"


def test_every_port_is_in_the_index_and_every_linked_port_exists() -> None:
    rows = index_rows()
    linked = {m for status, _ in rows.values() for m in re.findall(r"\(([^)]+\.yaml)\)", status)}
    assert {p.name for p in PORTS} <= linked | {"xsa-296.yaml"}
    assert all((XTF / name).is_file() for name in linked), linked
    for must in ("xsa-7", "xsa-182", "xsa-286"):
        assert f"{must}.yaml" in linked


def test_each_port_names_its_test_and_says_what_each_check_stands_for() -> None:
    assert PORTS
    for path in PORTS:
        text = path.read_text()
        header = text.split("\nname:")[0]
        assert f"tests/{path.stem}/main.c" in header, path.name
        assert "stands for" in header, path.name
        doc = yaml.safe_load(text)
        assert doc["name"] == f"xtf-{path.stem}"
        assert any("check" in step for step in doc["steps"])


def test_pvframes_run_passes_every_port_under_both_variants() -> None:
    out = io.StringIO()
    code = main([*map(str, PORTS), "--xen", "both"], out=out)
    assert code == 0, out.getvalue()
    assert f"{2 * len(PORTS)} passed, 0 failed" in out.getvalue()
