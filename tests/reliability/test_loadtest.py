"""The load script (`python -m webapp.loadtest`), run small so it cannot rot: real server
processes on 127.0.0.1, followers on one session while a presenter steps. Counts only;
its delays are figures for docs/operations.md, not asserted here."""

from __future__ import annotations

import shutil

import pytest

from webapp import loadtest


def check(report: dict[str, object], followers: int, steps: int) -> None:
    assert report["followers"] == followers
    assert report["steps_acked"] == steps
    assert report["events_lost"] == 0
    assert report["events_reordered"] == 0
    assert isinstance(report["delay_p99_s"], float)


def test_one_server() -> None:
    check(loadtest.run(followers=5, steps=10, workers=1, rate=None, max_seconds=120), 5, 10)


def test_followers_in_child_processes() -> None:
    report = loadtest.run(followers=5, steps=6, workers=1, rate=None, max_seconds=120,
                          processes=2)
    check(report, 5, 6)
    assert report["follower_processes"] == 2


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not "
                    "installed (.ci/run installs it)")
@pytest.mark.parametrize("server", ["werkzeug", "gunicorn"])
def test_two_workers_on_redis(server: str) -> None:
    report = loadtest.run(followers=6, steps=10, workers=2, rate=None, max_seconds=120,
                          server=server)
    check(report, 6, 10)
    assert report["workers"] == 2 and report["server"] == server


def test_main_exits_zero_when_nothing_is_lost(capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtest.main(["--followers", "3", "--steps", "4", "--max-seconds", "120"]) == 0
    assert '"events_lost": 0' in capsys.readouterr().out
