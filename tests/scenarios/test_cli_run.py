"""`pvframes run`: exit status, messages, --json, --verbose and the divergence report."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import yaml

from engine.runner import main

REPO = Path(__file__).resolve().parents[2]
CASE1 = REPO.parent / "shared" / "scenarios" / "case1-devalidated-l2.yaml"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def write(tmp_path: Path, doc: dict, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_passing_scenario_exits_0() -> None:
    code, out = run(str(CASE1))
    assert code == 0
    assert "1 passed, 0 failed" in out


def test_failed_assertion_exits_1_and_names_step(tmp_path: Path) -> None:
    doc = {"name": "t", "steps": [{"mmuext": {"cmd": "unpin", "pfn": 5}, "expect": "ok"}]}
    code, out = run(write(tmp_path, doc))
    assert code == 1
    assert "step 1 (mmuext): rc: expected 'ok', got '-EINVAL'" in out


def test_invalid_scenario_exits_2_names_file_step_field(tmp_path: Path, capsys) -> None:
    good = write(tmp_path, {"name": "ok", "steps": [{"check": {"audit": "ok"}}]}, "a.yaml")
    bad = write(tmp_path, {"name": "t", "steps": [
        {"check": {"audit": "ok"}},
        {"mmu_update": {"pfn": 3, "index": 512, "entry": 0}}]}, "b.yaml")
    code, out = run(good, bad)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""  # nothing ran, not even the valid file
    assert "b.yaml" in err and "step 2" in err and "mmu_update.index" in err


def test_migration_steps_are_accepted(tmp_path: Path) -> None:
    doc = {"name": "t", "steps": [{"migrate": "all", "expect": "ok"},
                                  {"check": {"guest_on": "destination", "audit": "ok"}}]}
    assert run(write(tmp_path, doc))[0] == 0


def test_json_document_shape() -> None:
    code, out = run(str(CASE1), "--json", "--xen", "patched")
    doc = json.loads(out)
    assert code == 0 and doc["passed"] is True
    (only,) = doc["runs"]
    assert only["xen"] == "patched" and only["name"] == "case1-devalidated-l2"
    step = only["steps"][1]
    assert set(step) == {"n", "op", "rc", "assertions"}
    assert set(step["assertions"][0]) == {"what", "expected", "actual", "ok"}


def test_both_variants_report_divergence() -> None:
    code, out = run(str(CASE1), "--xen", "both")
    assert code == 0
    assert "[unpatched]" in out and "[patched]" in out
    assert "pfinfo pfn 20 on source: 'L2TAB' unpatched, 'NOTAB' patched" in out
    assert "rc 0 unpatched, -22 (-EINVAL) patched" in out


def test_verbose_prints_deltas_with_xen_functions() -> None:
    code, out = run(str(CASE1), "--verbose", "--xen", "unpatched")
    assert code == 0
    assert "[devalidate_page]" in out and "[mod_l1_entry]" in out
    assert "batch of 64" in out


def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "webapp", "run", str(CASE1)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "1 passed" in proc.stdout


def test_rounds_beside_migrate_and_numeric_rc(tmp_path: Path) -> None:
    """`rounds: N` may stand beside `migrate: all`; `expect: {rc: -22}` is -EINVAL."""
    doc = {"name": "t", "steps": [
        {"mmuext": {"cmd": "unpin", "pfn": 9}, "expect": {"rc": -22}},
        {"migrate": "all", "rounds": 3, "expect": "ok"}]}
    code, out = run(write(tmp_path, doc), "--json")
    assert code == 0, out


def test_divergence_report_names_lost_pages() -> None:
    """Under xl the unpatched final pass loses the de-validated L1 (PFN 40); patched Xen
    sends it raw: the report says which PFN was lost, and where the two runs parted."""
    example = REPO / "examples" / "devalidated-target-ballooned.yaml"
    code, out = run(str(example), "--xen", "both")
    assert code == 0, out
    assert ('migrate "all": succeeded, the guest lost pfn 40 (no copy sent) unpatched, '
            "nothing lost patched") in out
    assert "round 3: pfn 40 (mfn 296) XTAB, lost unpatched, not sent patched" in out
    code, out = run(str(example), "--xen", "both", "--json")
    (report,) = json.loads(out)["divergences"]
    assert any("lost pfn 40" in item for item in report["items"])
