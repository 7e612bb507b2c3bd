"""`manage.py serve` end to end: the embedded mode serves HTTP and runs the worker in one process.

The server is a subprocess with its own SQLite file (whatever DATABASE_URL the suite runs with), so this test
touches no pytest-django database: it requests no `db` fixture and reaches the server only over HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from runs.status import ACTIVE_RUN_STATUSES

ROOT = Path(__file__).resolve().parents[2]
EVENT_KEY = "serve-test-event-key"
STARTUP_SECONDS = 60
RUN_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",  # sqlite:////tmp/... (absolute path)
        "RUNS_DATA_DIR": str(tmp_path),
        "RUNS_FUNCTION_MODULES": "tests.integration.serve_functions",
        "RUNS_EVENT_KEY": EVENT_KEY,
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "serve-test-password",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("REDIS_URL", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_until_listening(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"serve did not accept connections on port {port} within {STARTUP_SECONDS} s:\n{log.read_text()}")


def http(method: str, url: str, *, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_serve_takes_an_event_over_http_and_runs_it(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    log = tmp_path / "serve.log"
    with serving(env, log) as port:
        base = f"http://127.0.0.1:{port}"
        assert f"http://127.0.0.1:{port}/" in log.read_text()  # it prints its URL

        # The API token comes from the same SQLite file, written by separate processes while serve runs.
        manage(env, "createsuperuser", "--noinput")
        token = manage(env, "create_api_token", "admin").strip()
        assert token

        assert http("POST", f"{base}/api/events", token="wrong", body={"name": "serve-test/report"})[0] == 401
        status, answer = http("POST", f"{base}/api/events", token=EVENT_KEY,
                              body={"name": "serve-test/report", "data": {"n": 7}})
        assert status == 200, answer
        [event_id] = answer["ids"]

        status, answer = http("GET", f"{base}/api/events/{event_id}/runs", token=token)
        assert status == 200, answer
        [run] = answer["runs"]
        assert run["function_id"] == "report"

        deadline = time.monotonic() + RUN_SECONDS
        while True:
            status, info = http("GET", f"{base}/api/runs/{run['id']}", token=token)
            assert status == 200, info
            if info["status"] not in ACTIVE_RUN_STATUSES:
                break
            assert time.monotonic() < deadline, f"run still {info['status']} after {RUN_SECONDS} s"
            time.sleep(0.1)
        assert info["status"] == "completed", info
        assert info["output"] == "Square of 7 is 49."
        [step] = info["steps"]
        assert step["kind"] == "invoke" and step["child_run_id"]
        status, child = http("GET", f"{base}/api/runs/{step['child_run_id']}", token=token)
        assert status == 200 and child["output"] == 49


# --- Hardening (issue 8, item 13): a busy port, and `serve --demo` once per database ---------------------------

@contextmanager
def serving(env: dict[str, str], log: Path, *args: str) -> Iterator[int]:
    """`manage.py serve` with `args` on a free port, listening; yields the port, stops the server after."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), *args], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(server, port, log)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def test_serve_on_a_busy_port_exits_non_zero_and_creates_nothing(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "manage.py", "serve", "--demo", "--port", str(port)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done
    assert f"port {port} is in use" in done.stderr
    assert "Tributary on http" not in done.stdout  # no banner,
    assert "Login:" not in done.stdout  # no demo login,
    assert not (tmp_path / "db.sqlite3").exists()  # and no database: not even migrated, so no demo runs


def demo_state(env: dict[str, str]) -> dict[str, Any]:
    """The demo's stories, events and runs in the server's database, and which of two passwords its login has
    (read by a `manage.py shell` of the server's environment: this process imports no demo functions)."""
    code = """
import json
from django.contrib.auth import get_user_model
from dashboard.demo_functions import DEMO_EVENTS
from runs.models import Event, Run
ids = list(Event.objects.filter(name__in=[event["name"] for event in DEMO_EVENTS]).values_list("id", flat=True))
login = get_user_model().objects.get(username="demo")
print("DEMO-STATE " + json.dumps({
    "stories": len(DEMO_EVENTS), "events": len(ids), "runs": Run.objects.filter(event_id__in=ids).count(),
    "passwords": [p for p in ("demo", "its-owners") if login.check_password(p)]}))
"""
    [line] = [line for line in manage(env, "shell", "-c", code).splitlines() if line.startswith("DEMO-STATE ")]
    return json.loads(line.removeprefix("DEMO-STATE "))


def test_serve_demo_twice_creates_the_demo_runs_once_and_keeps_the_password(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    with serving(env, tmp_path / "first.log", "--demo"):
        first = demo_state(env)  # the demo events are sent before serve listens
        manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; "
                                   "login = get_user_model().objects.get(username='demo'); "
                                   "login.set_password('its-owners'); login.save()")
    assert first["events"] == first["stories"] and first["runs"] >= first["stories"]
    assert first["passwords"] == ["demo"]

    with serving(env, tmp_path / "second.log", "--demo"):
        second = demo_state(env)
    assert second == {**first, "passwords": ["its-owners"]}  # no new demo runs; the changed password stays
    log = (tmp_path / "second.log").read_text()
    assert "password is unchanged" in log and "demo / demo" not in log


# --- Hardening (issue 8, item 5): bodies over the limit refused under Daphne before they are read ---------------

def _raw_request(port: int, head: str, chunks: Iterable[bytes] = ()) -> tuple[bytes, int]:
    """Send `head`, then `chunks` until the server answers; returns (the answer, body bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head.encode())
        conn.setblocking(False)
        answer = b""
        deadline = time.monotonic() + 10
        for chunk in chunks:
            with suppress(BlockingIOError):
                answer += conn.recv(65536)
            if answer or time.monotonic() > deadline:
                break
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
            sent += len(chunk)
        conn.settimeout(10)
        try:
            while not answer.endswith(b"}"):
                part = conn.recv(65536)
                if not part:
                    break
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def test_serve_refuses_a_body_over_the_limit_before_reading_it(tmp_path: Path) -> None:
    env = {**server_env(tmp_path), "RUNS_MAX_REQUEST_BODY_BYTES": "100000"}
    with serving(env, tmp_path / "serve.log", "--no-worker") as port:
        # A declared gigabyte, of which nothing is sent: the answer comes at once, not after a read.
        started = time.monotonic()
        answer, _ = _raw_request(port, f"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                       f"Content-Type: application/json\r\nContent-Length: {2**30}\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"larger than 100000 bytes" in answer
        assert time.monotonic() - started < 5

        # A chunked body with no declared length: refused once the bytes received pass the limit.
        chunk = b"8000\r\n" + b"x" * 0x8000 + b"\r\n"
        answer, sent = _raw_request(port, f"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                          f"Transfer-Encoding: chunked\r\n\r\n", [chunk] * 400)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 400 * len(chunk)  # the server stopped reading long before the client stopped sending
