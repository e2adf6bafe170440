"""Load script: N Socket.IO followers on one session while a presenter steps, against a
`pvframes serve` started here on 127.0.0.1 (never another address). Bounded: a fixed
number of steps and followers, and a wall-clock cap after which it stops by itself.

    python -m webapp.loadtest --followers 200 --steps 100 [--workers 2] [--rate 50]
                              [--server werkzeug|gunicorn] [--processes K]

The server is `pvframes serve`'s default (gunicorn) unless `--server werkzeug`.
`--workers N` (N > 1) runs N server processes on one database and one redis-server queue
(started here too): with Werkzeug, N `pvframes serve` processes on N ports, the followers
split across them in turn and the presenter on the first; with gunicorn, one
`pvframes serve --server gunicorn --workers N`, whose workers the kernel hands connections.
`--processes K` runs the followers from K child processes instead of threads of this one,
so that the measuring side is not one interpreter's lock.

Prints one JSON object: events lost and reordered (must be 0), followers dropped (by
backpressure; they reconnect and catch up by seq, as the page does), the delay from the
presenter's acknowledgement to each follower's receipt (p50/p99/max; negative when a
follower had the event before the presenter had its ack), the server processes' CPU time
(start-up included; the follower processes' apart), and the machine's load average before
and after. The servers' log is kept in a temporary file and shown if they fail to start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import closing
from typing import Any

from .serving import ServeOptions
from .sioclient import MiniClient, SocketIOError, TimedOut

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _wait(url: str, procs: list[subprocess.Popen[bytes]], log: str,
          seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if any(proc.poll() is not None for proc in procs):
                break
            time.sleep(0.2)
    with open(log, errors="replace") as f:
        tail = f.read()[-2000:]
    raise RuntimeError(f"{url} did not answer in {seconds} s; server log:\n{tail}")


def _env() -> dict[str, str]:
    """The servers and follower processes run the same code as this script, wherever it
    was imported from."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [here, os.environ.get("PYTHONPATH")]))}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 4)


def run(followers: int, steps: int, workers: int, rate: float | None,
        max_seconds: float, server: str = "gunicorn", processes: int = 1) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="pvframes-load-")
    procs: list[subprocess.Popen[bytes]] = []
    log_path = os.path.join(tmp, "servers.log")
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    load_before = os.getloadavg()
    cpu_before = _children_cpu()
    report: dict[str, Any] = {}
    try:
        command = [sys.executable, "-m", "webapp", "serve", "--host", LOOPBACK,
                   "--db", os.path.join(tmp, "load.sqlite3"), "--server", server]
        if followers + 20 > ServeOptions.threads:
            # gunicorn's gthread holds a thread per open WebSocket: room for all
            command += ["--threads", str(followers + 20)]
        if workers > 1:
            redis = shutil.which("redis-server")
            if redis is None:
                raise RuntimeError("--workers > 1 needs redis-server")
            redis_port = _free_port()
            procs.append(subprocess.Popen(
                [redis, "--port", str(redis_port), "--bind", LOOPBACK, "--save", "",
                 "--appendonly", "no", "--dir", tmp], stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
            command += ["--message-queue", f"redis://{LOOPBACK}:{redis_port}/0"]
        env = _env()
        bases = []
        # Werkzeug: one process per worker on one database and one queue
        # (docs/operations.md); gunicorn: one master with N worker processes.
        for _ in range(1 if server == "gunicorn" else workers):
            port = _free_port()
            bases.append(f"http://{LOOPBACK}:{port}")
            extra = ["--workers", str(workers)] if server == "gunicorn" else []
            procs.append(subprocess.Popen(command + ["--port", str(port), *extra],
                                          stdout=log, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
        for base in bases:
            _wait(base + "/api/scenarios", procs, log_path, min(60.0, max_seconds))
        request = urllib.request.Request(bases[0] + "/api/sessions", data=b"{}",
                                         headers={"Content-Type": "application/json"})
        created = json.load(urllib.request.urlopen(request, timeout=30))
        report = _drive(bases, created["id"], created.get("token"), followers, steps, rate,
                        max_seconds, processes)
        report.update(server=server, workers=workers,
                      load_average_before=[round(x, 2) for x in load_before],
                      load_average_after=[round(x, 2) for x in os.getloadavg()])
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # The servers (and redis-server) have been waited for: their CPU time, start-up included.
    report["servers_cpu_s"] = round(_children_cpu() - cpu_before
                                    - (report.get("followers_cpu_s") or 0.0), 2)
    return report


def _children_cpu() -> float:
    """CPU seconds of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Follower:
    """One follower, as the page is one (static/js/socket.js): when the server drops it
    (backpressure, webapp/events.py), it reconnects and rejoins with `since`, and the
    events it catches up on count as received when the catch-up answer came."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base, self.session_id = base, session_id
        self.received: list[tuple[float, int]] = []  # (time received, seq), in order
        self.reconnects = 0
        self.client = self._join(None)

    def _join(self, since: int | None) -> MiniClient:
        client = MiniClient(self.base, timeout=30)
        payload: dict[str, Any] = {"session": self.session_id}
        if since is not None:
            payload["since"] = since
        ack = client.call("join", payload)
        if not ack.get("ok"):
            raise RuntimeError(f"join refused: {ack}")
        now = time.perf_counter()
        self.received += [(now, e["seq"]) for e in ack.get("events", [])]
        return client

    def follow(self, last_seq: Callable[[], int | None], deadline: float) -> None:
        """Until the presenter's last acknowledged seq is here, or the deadline."""
        self.client.timeout = 1.0  # waits for events wake up to look at last_seq()
        while time.monotonic() < deadline:
            try:
                self.client.wait_events(1)
                while self.client.events:
                    t, event = self.client.events.popleft()
                    self.received.append((t, event["seq"]))
            except TimedOut:  # nothing new for a while: look whether the presenter is done
                pass
            except SocketIOError:  # dropped: catch up by seq
                self.client.close()
                self.reconnects += 1
                self.client = self._join(self.received[-1][1] if self.received else 0)
                self.client.timeout = 1.0
            target = last_seq()
            if target is not None and self.received and self.received[-1][1] >= target:
                return


Received = list[tuple[float, int]]  # (time received, seq), in order


class _LocalGroup:
    """Followers in this process, one thread each."""

    def __init__(self, bases: list[str], offset: int, count: int, session_id: str,
                 deadline: float) -> None:
        self.followers: list[_Follower] = []
        for i in range(offset, offset + count):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.followers)} followers connected in time")
            self.followers.append(_Follower(bases[i % len(bases)], session_id))  # split
        self.done: list[int] = []  # the last acknowledged seq, once the presenter is done
        self.threads = [threading.Thread(target=f.follow, args=(self._last, deadline),
                                         daemon=True) for f in self.followers]
        for thread in self.threads:
            thread.start()

    def _last(self) -> int | None:
        return self.done[0] if self.done else None

    def wait_ready(self) -> None:
        pass

    def finish(self, last: int, deadline: float) -> list[tuple[Received, int]]:
        self.done.append(last)
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for follower in self.followers:
            follower.client.close()
        return [(f.received, f.reconnects) for f in self.followers]


class _ProcessGroup:
    """Followers in a child process (`--group`), so that receiving is not limited to one
    interpreter's lock. Times are time.perf_counter(), CLOCK_MONOTONIC on Linux: the same
    clock in every process of the machine."""

    def __init__(self, bases: list[str], offset: int, count: int, session_id: str,
                 max_seconds: float) -> None:
        spec = {"bases": bases, "offset": offset, "count": count, "session": session_id,
                "max_seconds": max_seconds}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webapp.loadtest", "--group", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a follower process did not connect its followers")

    def finish(self, last: int, deadline: float) -> list[tuple[Received, int]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{last}\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.read()
        self.proc.wait(timeout=max(5.0, deadline - time.monotonic()))
        return [([(t, seq) for t, seq in received], reconnects)
                for received, reconnects in json.loads(out)]


def _group_main(spec_json: str) -> int:
    """A follower process: connect, say "ready", follow until the seq read from stdin."""
    spec = json.loads(spec_json)
    deadline = time.monotonic() + spec["max_seconds"]
    group = _LocalGroup(spec["bases"], spec["offset"], spec["count"], spec["session"],
                        deadline)
    print("ready", flush=True)
    last = int(sys.stdin.readline())
    print(json.dumps(group.finish(last, deadline)), flush=True)
    return 0


def _drive(bases: list[str], session_id: str, token: str | None, n_followers: int,
           steps: int, rate: float | None, max_seconds: float,
           processes: int = 1) -> dict[str, Any]:
    deadline = time.monotonic() + max_seconds
    cpu_before = _children_cpu()
    groups: list[_LocalGroup | _ProcessGroup] = []
    if processes <= 1:
        groups.append(_LocalGroup(bases, 0, n_followers, session_id, deadline))
    else:
        share = -(-n_followers // processes)
        for offset in range(0, n_followers, share):
            groups.append(_ProcessGroup(bases, offset, min(share, n_followers - offset),
                                        session_id, max_seconds))
    try:
        for group in groups:
            group.wait_ready()
        acked: dict[int, float] = {}
        presenter = MiniClient(bases[0], timeout=30)
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
        presenter.close()
        last = max(acked, default=0)
        results = [r for group in groups for r in group.finish(last, deadline)]
    finally:
        for group in groups:
            if isinstance(group, _ProcessGroup) and group.proc.poll() is None:
                group.proc.kill()  # only when something above failed
                group.proc.wait()
    delays: list[float] = []
    lost = reordered = 0
    for received, _reconnects in results:
        seqs = [seq for _, seq in received]
        reordered += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b <= a)
        lost += len(set(acked) - set(seqs))
        delays += [t - acked[seq] for t, seq in received if seq in acked]
    return {
        "followers": n_followers, "follower_processes": max(1, processes),
        "steps_acked": len(acked),
        "write_rate_per_s": round(len(acked) / write_seconds, 1) if write_seconds else None,
        "events_lost": lost, "events_reordered": reordered,
        "followers_dropped": sum(1 for _, reconnects in results if reconnects),
        "delay_p50_s": _percentile(delays, 0.50), "delay_p99_s": _percentile(delays, 0.99),
        "delay_max_s": round(max(delays), 4) if delays else None,
        # The follower processes, waited for above (the servers are still running).
        "followers_cpu_s": round(_children_cpu() - cpu_before, 2) if processes > 1 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp.loadtest")
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, help="steps per second (default: full speed)")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--server", choices=["gunicorn", "werkzeug"], default="gunicorn")
    parser.add_argument("--processes", type=int, default=1, metavar="K",
                        help="run the followers from K processes (default: this one)")
    parser.add_argument("--group", help=argparse.SUPPRESS)  # a follower process
    args = parser.parse_args(argv)
    if args.group:
        return _group_main(args.group)
    report = run(args.followers, args.steps, args.workers, args.rate, args.max_seconds,
                 args.server, args.processes)
    print(json.dumps(report, indent=2))
    return 0 if report["events_lost"] == 0 and report["events_reordered"] == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
