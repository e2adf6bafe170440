"""The `pvframes` command: serve wiring and delegation of run/bench to the engine."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from webapp import cli
from webapp.extensions import socketio


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "run", "bench"):
        assert command in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("command", "module"), [("run", "engine.runner"), ("bench", "webapp.bench")]
)
def test_run_and_bench_are_delegated(
    monkeypatch: pytest.MonkeyPatch, command: str, module: str
) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType(module)
    fake.main = lambda argv, **kw: seen.append(list(argv)) or 1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    assert cli.main([command, "a.yaml", "--xen", "both", "--json"]) == 1
    assert seen == [["a.yaml", "--xen", "both", "--json"]]


def test_serve_prints_the_url_and_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(socketio, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    database = tmp_path / "served.sqlite3"
    assert cli.main(["serve", "--server", "werkzeug", "--port", "5123", "--db",
                     str(database)]) == 0
    (call,) = calls
    assert call["host"] == "127.0.0.1" and call["port"] == 5123
    assert call["allow_unsafe_werkzeug"] is True
    assert call["app"].config["DATABASE"] == str(database)
    assert "http://127.0.0.1:5123/" in capsys.readouterr().out
    call["app"].extensions["pvframes"].store.close()


def test_serve_durability_reaches_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(socketio, "run", lambda app, **kw: calls.append(app))
    # Werkzeug: its run is what is replaced here (gunicorn would start for real)
    assert cli.main(["serve", "--server", "werkzeug", "--durability", "full", "--db",
                     str(tmp_path / "d.sqlite3")]) == 0
    (app,) = calls
    assert app.config["DURABILITY"] == "full"
    with pytest.raises(SystemExit):
        cli.main(["serve", "--durability", "sometimes"])
