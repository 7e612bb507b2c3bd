"""Dashboard benchmarks for `manage.py bench --only LIVE,GRAPH`, against a Daphne server subprocess
(`manage.py serve --no-worker`) on the bench database, with the Redis channel layer.

LIVE: latency from a status change committed by the worker process (the delta's `ts`, taken inside the
  committing transaction, so the commit itself is counted) to the message arriving at a websocket client
  logged in with a session cookie. Events are sent one at a time; every running/completed delta is measured.
GRAPH: latency of GET /api/runs/<root>/graph for a 10,001-run tree (inserted as rows), over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.benchmarks.measure import Output, truncate_runs

DASHBOARD_WORKLOADS = ("LIVE", "GRAPH")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
LIVE_EVENTS = 200
GRAPH_REQUESTS = 15
ROOT = Path(__file__).resolve().parents[2]


def run_dashboard_benchmarks(names: list[str], *, database_url: str, redis_url: str, timeout: float,
                             out: Output) -> None:
    with dashboard_server(database_url, redis_url, timeout) as base_url:
        cookie = session_cookie()
        for name in names:
            result = measure_live(base_url, cookie, timeout) if name == "LIVE" else measure_graph(base_url, cookie)
            out.write(json.dumps(result) + "\n")
            out.flush()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dashboard_server(database_url: str, redis_url: str, timeout: float) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        if "Tributary on" not in server.stdout.readline():
            raise RuntimeError(f"the dashboard server exited with {server.wait(timeout)}")
        _wait_listening(port, timeout)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def session_cookie() -> str:
    """A logged-in session of a bench user, as a Cookie header value."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2), "max_ms": round(ordered[-1], 2)}


def measure_live(base_url: str, cookie: str, timeout: float) -> dict[str, Any]:
    from websockets.sync.client import connect
    from websockets.typing import Origin

    from runs import client
    from tests.benchmarks.workloads import ONE_STEP_EVENT

    truncate_runs()
    latencies: list[float] = []
    headers = {"Cookie": cookie}
    with connect(f"ws://{base_url}/ws/runs/", origin=Origin(f"http://{base_url}"), additional_headers=headers) as ws:
        if json.loads(ws.recv(timeout=10)) != {"type": "hello"}:
            raise RuntimeError("the socket did not say hello")
        for i in range(LIVE_EVENTS + 5):  # the first 5 warm up (connections, imports) and are not counted
            client.send(ONE_STEP_EVENT, {"x": i})
            done = False
            while not done:
                message = json.loads(ws.recv(timeout=timeout))
                arrived = time.time() * 1000
                for delta in message.get("deltas", []):
                    if delta["status"] in ("running", "completed") and i >= 5:
                        latencies.append(arrived - delta["ts"])
                    done = done or delta["status"] == "completed"
    truncate_runs()
    return {"workload": "LIVE", **_percentiles(latencies), "deltas": len(latencies), "events": LIVE_EVENTS,
            "layer": "redis", "path": "worker process -> Redis -> Daphne -> websocket"}


def measure_graph(base_url: str, cookie: str) -> dict[str, Any]:
    from tests.benchmarks.trees import wide_tree

    truncate_runs()
    root, *_ = wide_tree("bench-graph", mids=100, leaves_per_mid=99)
    request = urllib.request.Request(f"http://{base_url}/api/runs/{root}/graph", headers={"Cookie": cookie})
    timings, body = [], b""
    for i in range(GRAPH_REQUESTS + 2):  # two warm-ups
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        if i >= 2:
            timings.append((time.perf_counter() - started) * 1000)
    graph = json.loads(body)
    truncate_runs()
    return {"workload": "GRAPH", **_percentiles(timings), "requests": GRAPH_REQUESTS, "runs": graph["size"],
            "nodes_shown": len(graph["nodes"]), "bytes": len(body)}
