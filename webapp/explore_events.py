"""Socket.IO: `pvframes explore` from the page. `explore_start` searches from a session's
current state in a background task (socketio.start_background_task, so the request thread
returns at once); progress, findings and the end are pushed to the client that asked, as
`explore_progress`, `explore_finding` and `explore_done`; `explore_cancel` stops it.
Payloads are in docs/protocol.md."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import yaml
from flask import request

from engine.errors import InvalidInput
from engine.explore import Explorer, Finding, Progress, start_from
from engine.explore_cli import to_yaml
from engine.explore_goals import GOALS

from . import parsing
from .events import Ack, acked, only, service
from .extensions import socketio

MAX_BUDGET = 120.0  # seconds: a search is bounded even if nobody cancels it
MAX_PAGES = 4096  # the search deep-copies the state for every walk

_lock = threading.Lock()
_runs: dict[str, tuple[str, threading.Event]] = {}  # run id -> (client sid, cancel)


def _budget(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 < value <= MAX_BUDGET:
        raise InvalidInput("budget", f"seconds, more than 0 and at most {MAX_BUDGET:g}")
    return float(value)


def _seed(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 32:
        raise InvalidInput("seed", "an integer from 0 to 2**32 - 1")
    return value


@socketio.on("explore_start")
@acked
def on_explore_start(payload: dict[str, Any]) -> Ack:
    only(payload, "session", "goal", "budget", "seed")
    session_id = parsing.session_id(payload.get("session"))
    goal = payload.get("goal")
    if goal not in GOALS:
        raise InvalidInput("goal", f"one of {', '.join(GOALS)}")
    budget = _budget(payload.get("budget", 10))
    seed = _seed(payload.get("seed"))
    scenario = yaml.safe_load(service().export(session_id))  # the session as it is now
    pages = scenario.get("guest", {}).get("pages", 0)
    if pages > MAX_PAGES:
        raise InvalidInput("session", f"a {pages}-page guest is too large to explore "
                           f"(at most {MAX_PAGES} pages)")
    header, prefix = start_from(scenario)
    sid = request.sid  # type: ignore[attr-defined]
    with _lock:
        for owner, cancel in _runs.values():
            if owner == sid:  # one search per client: a new one replaces the old
                cancel.set()
        run_id = uuid.uuid4().hex[:12]
        cancel = threading.Event()
        _runs[run_id] = (sid, cancel)
    # Built here so that bad input is refused in the ack, not in the background.
    explorer = Explorer(goal, header, prefix, seed=seed, budget=budget,
                        should_stop=cancel.is_set,
                        origin=f"the Explore panel (goal {goal}, seed {seed}) from the "
                               f"state of session {session_id}",
                        on_finding=lambda f: socketio.emit(
                            "explore_finding", finding_payload(run_id, f), to=sid),
                        on_progress=lambda p: socketio.emit(
                            "explore_progress", progress_payload(run_id, p), to=sid),
                        progress_every=0.5)
    socketio.start_background_task(_run, explorer, run_id, sid)
    return {"id": run_id, "goal": goal, "budget": budget, "seed": seed}


def _run(explorer: Explorer, run_id: str, sid: str) -> None:
    try:
        explorer.run()
        done = {**progress_payload(run_id, explorer.progress), "error": None}
    except Exception as exc:  # noqa: BLE001 - the client must hear that it ended
        done = {**progress_payload(run_id, explorer.progress), "error": str(exc)}
    finally:
        with _lock:
            _runs.pop(run_id, None)
    socketio.emit("explore_done", done, to=sid)


@socketio.on("explore_cancel")
@acked
def on_explore_cancel(payload: dict[str, Any]) -> Ack:
    only(payload, "id")
    run_id = payload.get("id")
    with _lock:
        run = _runs.get(run_id) if isinstance(run_id, str) else None
    if run is None or run[0] != request.sid:  # type: ignore[attr-defined]
        raise InvalidInput("id", "no exploration of yours with this id is running")
    run[1].set()
    return {"id": run_id}


def progress_payload(run_id: str, p: Progress) -> dict[str, Any]:
    return {"id": run_id, "explored": p.explored, "rate": round(p.rate), "hits": p.hits,
            "findings": p.findings, "elapsed": round(p.elapsed, 2), "stopped": p.stopped}


def finding_payload(run_id: str, f: Finding) -> dict[str, Any]:
    return {"id": run_id, "number": f.number, "name": f.name, "goal": f.goal,
            "signature": {"op": f.op, "field": f.field, "fn": f.fn}, "xen": f.xen,
            "length": len(f.steps), "unshrunk": f.unshrunk, "found_after": f.found_after,
            "note": f.note, "yaml": to_yaml(f.scenario)}
