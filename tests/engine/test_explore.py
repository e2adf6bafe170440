"""`pvframes explore`: the issue's targets at small step budgets with fixed seeds, the
shrinker's guarantees, determinism, and the committed catalogue replaying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import explore_cli, runner
from engine.explore import Explorer, Finding, parse_guest
from engine.explore_shrink import ddmin, shrink

REPO = Path(__file__).resolve().parents[2]
FOUND = sorted((REPO / "examples" / "found").glob("*.yaml"))


def explore(goal: str, seed: int, max_steps: int, guest: str = "bare:16",
            hosts: str = "default") -> Explorer:
    e = Explorer(goal, parse_guest(guest, hosts), seed=seed, max_steps=max_steps)
    e.run()
    return e


def replays(tmp_path: Path, finding: Finding) -> int:
    path = tmp_path / f"{finding.name}.yaml"
    path.write_text(explore_cli.to_yaml(finding.scenario))
    return runner.main([str(path), "--xen", "both"], out=open("/dev/null", "w"))


def pfinfo_checks(finding: Finding) -> list[dict]:
    return [s["check"] for s in finding.scenario["steps"]
            if "check" in s and "pfinfo" in s["check"]]


@pytest.fixture(scope="module")
def divergence() -> Explorer:
    return explore("divergence", seed=1, max_steps=600)


def test_divergence_finds_a_case1_shape(divergence: Explorer, tmp_path: Path) -> None:
    """A de-validated page table that unpatched Xen reports LnTAB and patched NOTAB, whose
    migration ends differently: within 6 steps plus the migration."""
    case1 = [f for f in divergence.findings
             if f.op == "migrate" and f.field.startswith("destination entries (L")
             and f.field.endswith("NOTAB patched)")]
    assert case1, [f.signature for f in divergence.findings]
    f = case1[0]
    assert len(f.steps) <= 7 and "migrate" in f.steps[-1]
    [before] = pfinfo_checks(f)
    assert before["is"]["unpatched"].endswith("TAB") and before["is"]["patched"] == "NOTAB"
    assert "de-validated" in f.scenario["description"]
    assert replays(tmp_path, f) == 0


def test_findings_are_grouped_by_signature(divergence: Explorer) -> None:
    signatures = [(f.op, f.field, f.fn, f.xen) for f in divergence.findings]
    assert len(signatures) == len(set(signatures))
    assert divergence.progress.hits > len(divergence.findings)


def test_every_finding_replays_under_both_variants(divergence: Explorer,
                                                   tmp_path: Path) -> None:
    assert divergence.findings
    for f in divergence.findings:
        assert replays(tmp_path, f) == 0, f.name


def test_shrunk_findings_reach_the_goal_and_are_one_minimal(divergence: Explorer) -> None:
    for f in divergence.findings:
        key = ("divergence", f.op, f.field, f.xen)
        assert divergence.reaches(f.steps, key) == len(f.steps)
        for i in range(len(f.steps)):
            assert divergence.reaches(f.steps[:i] + f.steps[i + 1:], key) is None, (f.name, i)


def test_the_same_seed_and_steps_give_the_same_findings(divergence: Explorer) -> None:
    again = explore("divergence", seed=1, max_steps=600)
    assert [f.scenario for f in again.findings] == [f.scenario for f in divergence.findings]
    other = explore("divergence", seed=2, max_steps=600)
    assert [f.steps for f in other.findings] != [f.steps for f in divergence.findings]


def test_stale_entry_finds_a_case2_wrong_frame(tmp_path: Path) -> None:
    e = explore("stale-entry", seed=1, max_steps=200, hosts="alike")
    wrong = [f for f in e.findings if f.field == "entry names another guest frame"]
    assert wrong, [f.signature for f in e.findings]
    f = wrong[0]
    [entry] = [s["check"] for s in f.scenario["steps"] if "entry" in s.get("check", {})]
    assert entry["target_owner"] == "guest" and entry["present"] is True
    assert pfinfo_checks(f)[0]["is"] == "NOTAB"  # sent raw
    assert replays(tmp_path, f) == 0


def test_lost_finds_the_xl_page_loss(tmp_path: Path) -> None:
    """The guest gives back a page its kernel L1 still maps: under xl the final pass
    cannot normalise the L1 and sends it as XTAB; the migration succeeds without it."""
    e = explore("lost", seed=1, max_steps=100, guest="linear:64")
    assert e.findings, e.progress
    f = e.findings[0]
    assert f.fn == "normalise_pagetable" and f.xen == "both"
    assert [next(iter(s)) for s in f.steps] == ["memory", "migrate"]
    [check] = [s["check"] for s in f.scenario["steps"] if "lost" in s.get("check", {})]
    assert check == {"migration": "ok", "lost": [3]}  # PFN 3: the linear layout's L1
    assert replays(tmp_path, f) == 0


def test_audit_finds_nothing_in_a_sound_model() -> None:
    e = explore("audit", seed=3, max_steps=400)
    assert e.findings == [] and e.progress.faults == 0 and e.progress.explored == 400


def test_audit_finds_a_broken_refcount(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unpin that forgets the pin's general reference (put_page) is found and shrunk
    to a pin and an unpin."""
    from engine import world

    real_unpin = world.mmuext_unpin

    def leaky_unpin(mm, mfn):  # type: ignore[no-untyped-def]
        rc = real_unpin(mm, mfn)
        if rc == 0:
            mm.h.add(mfn, "count", 1, "a deliberately leaked reference")
        return rc

    monkeypatch.setattr(world, "mmuext_unpin", leaky_unpin)
    e = explore("audit", seed=3, max_steps=400)
    assert e.findings
    f = e.findings[0]
    assert f.op == "mmuext unpin" and "count" in f.field
    assert [next(iter(s)) for s in f.steps] == ["mmuext", "mmuext"]


def test_shrink_removes_what_is_not_needed() -> None:
    needed = [{"n": 3}, {"n": 7}]
    steps = [{"n": i} for i in range(10)]

    def test(candidate):  # type: ignore[no-untyped-def]
        seen = [s["n"] for s in candidate]
        return len(candidate) if all(s["n"] in seen for s in needed) else None

    assert ddmin(steps, test) == needed
    assert shrink(steps, test) == needed
    with pytest.raises(ValueError):
        shrink([{"n": 1}], test)


def test_cli_json_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = explore_cli.main(["--goal", "divergence", "--max-steps", "300", "--seed", "1",
                           "--json", "--out", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["progress"]["explored"] == 300
    names = sorted(p.stem for p in tmp_path.glob("*.yaml"))
    assert names == sorted(f["name"] for f in doc["findings"]) and names
    assert explore_cli.main(["--goal", "divergence", "--guest", "huge:1"]) == 2
    assert "guest" in capsys.readouterr().err


@pytest.mark.parametrize("path", FOUND, ids=lambda p: p.stem)
def test_committed_findings_replay(path: Path) -> None:
    assert runner.main([str(path), "--xen", "both"], out=open("/dev/null", "w")) == 0


def test_ctrl_c_keeps_what_was_found(tmp_path: Path) -> None:
    """SIGINT ends the search; the findings so far are in --out and in the JSON report."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "found"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp", "explore", "--goal", "divergence", "--seed", "1",
         "--budget", "120", "--json", "--out", str(out)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.yaml"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    doc = json.loads(stdout)
    assert proc.returncode == 0 and doc["progress"]["stopped"] == "cancelled"
    assert doc["findings"] and len(doc["findings"]) == len(list(out.glob("*.yaml")))
