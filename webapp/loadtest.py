"""Load script: N Socket.IO followers on one session while a presenter steps, against a
`pvframes serve` started here on 127.0.0.1 (never another address). Bounded: a fixed
number of steps and followers, and a wall-clock cap after which it stops by itself.

    python -m webapp.loadtest --followers 200 --steps 100 [--workers 2] [--rate 50]

`--workers N` starts N server processes on one database and one redis-server queue
(started here too) and splits the followers across them; the presenter uses the first.

Prints one JSON object: events lost and reordered (must be 0), followers dropped (by
backpressure; they would reconnect and catch up), and the delay from the presenter's
acknowledgement to each follower's receipt (p50/p99/max).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import closing
from typing import Any

from .sioclient import MiniClient, SocketIOError

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 4)


def run(followers: int, steps: int, workers: int, rate: float | None,
        max_seconds: float) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="pvframes-load-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        command = [sys.executable, "-m", "webapp", "serve", "--host", LOOPBACK,
                   "--db", os.path.join(tmp, "load.sqlite3"),
                   "--threads", str(followers + 20)]
        if workers > 1:
            redis = shutil.which("redis-server")
            if redis is None:
                raise RuntimeError("--workers > 1 needs redis-server")
            redis_port = _free_port()
            procs.append(subprocess.Popen(
                [redis, "--port", str(redis_port), "--bind", LOOPBACK, "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True))
            command += ["--message-queue", f"redis://{LOOPBACK}:{redis_port}/0"]
        # One server process per worker on one database and one queue (docs/operations.md).
        bases = []
        for _ in range(workers):
            port = _free_port()
            bases.append(f"http://{LOOPBACK}:{port}")
            procs.append(subprocess.Popen(command + ["--port", str(port)],
                                          stdout=subprocess.DEVNULL, start_new_session=True))
        for base in bases:
            _wait(base + "/api/scenarios")
        request = urllib.request.Request(bases[0] + "/api/sessions", data=b"{}",
                                         headers={"Content-Type": "application/json"})
        created = json.load(urllib.request.urlopen(request))
        return _drive(bases, created["id"], created.get("token"), followers, steps, rate,
                      max_seconds)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _drive(bases: list[str], session_id: str, token: str | None, n_followers: int,
           steps: int, rate: float | None, max_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + max_seconds
    followers = []
    for i in range(n_followers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(followers)} followers connected in time")
        client = MiniClient(bases[i % len(bases)], timeout=30)  # split across the servers
        if not client.call("join", {"session": session_id}).get("ok"):
            raise RuntimeError("join refused")
        followers.append(client)
    dropped: set[int] = set()

    def follow(client: MiniClient) -> None:
        try:
            while len(client.events) < steps and time.monotonic() < deadline:
                client.wait_events(len(client.events) + 1)
        except SocketIOError:  # a real client would rejoin with `since` and catch up
            dropped.add(id(client))

    threads = [threading.Thread(target=follow, args=(c,), daemon=True) for c in followers]
    for thread in threads:
        thread.start()
    presenter = MiniClient(bases[0], timeout=30)
    acked: dict[int, float] = {}
    started = time.perf_counter()
    for i in range(steps):
        if time.monotonic() > deadline:
            break
        ack = presenter.call("step", {"session": session_id, "token": token,
                                      "step": {"write": {"pfn": 9 + i % 40}}})
        if ack.get("ok"):
            acked[ack["event"]["seq"]] = time.perf_counter()
        if rate:
            time.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
    write_seconds = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    delays: list[float] = []
    lost = reordered = 0
    for client in followers:
        if id(client) in dropped:
            client.close()
            continue
        seqs = [event["seq"] for _, event in client.events]
        reordered += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1)
        lost += len(set(acked) - set(seqs))
        delays += [t - acked[e["seq"]] for t, e in client.events if e["seq"] in acked]
        client.close()
    presenter.close()
    return {
        "followers": n_followers, "steps_acked": len(acked),
        "write_rate_per_s": round(len(acked) / write_seconds, 1) if write_seconds else None,
        "events_lost": lost, "events_reordered": reordered,
        "followers_dropped": len(dropped),
        "delay_p50_s": _percentile(delays, 0.50), "delay_p99_s": _percentile(delays, 0.99),
        "delay_max_s": round(max(delays), 4) if delays else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp.loadtest")
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, help="steps per second (default: full speed)")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    report = run(args.followers, args.steps, args.workers, args.rate, args.max_seconds)
    report["workers"] = args.workers
    print(json.dumps(report, indent=2))
    return 0 if report["events_lost"] == 0 and report["events_reordered"] == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
