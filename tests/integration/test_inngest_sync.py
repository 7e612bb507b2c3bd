"""Syncing a real inngest-py 0.5.19 app (tests/integration/inngest_py_app.py, a subprocess on a free port)
with a live Tributary server (pytest-django's live_server): `runs.inngest_sync.sync_app` PUTs the app, and
in dev mode the SDK POSTs /fn/register back to us; in signed mode it answers in-band, signed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from runs.inngest import signing
from runs.inngest_sync import sync_app
from runs.models import CancelRule, Function, SdkApp
from runs.testing import worker

APP_SCRIPT = Path(__file__).with_name("inngest_py_app.py")
KEY = "signkey-test-" + "5e" * 32
OTHER_KEY = "signkey-test-" + "77" * 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)


@contextmanager
def sdk_app(tmp_path: Path, port: int, **env: str) -> Iterator[str]:
    """The inngest-py app served on `port` with this SDK environment; yields its serve URL."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("INNGEST_", "DJANGO_SETTINGS_MODULE", "RUNS_INNGEST"))}
    log_path = tmp_path / f"app-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(APP_SCRIPT), str(port)], env={**clean, **env},
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/inngest"

    def answers() -> bool:
        assert proc.poll() is None, f"the SDK app exited:\n{log_path.read_text(errors='replace')}"
        try:
            httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        _poll(answers, 30, "the SDK app did not answer")
        yield url
    finally:
        proc.kill()
        proc.wait(10)
        print(log_path.read_text(errors="replace"))  # shown for failing tests only


@pytest.fixture(autouse=True)
def _server_mode(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    for name in ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    settings.RUNS_INNGEST_DEV = False
    settings.RUNS_INNGEST_SIGNING_KEY = ""


def test_dev_mode_put_makes_the_sdk_register_and_a_resync_drops_a_vanished_function(
        transactional_db: None, live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.RUNS_INNGEST_DEV = True
    port = free_port()
    with sdk_app(tmp_path, port, INNGEST_DEV=live_server.url, INNGEST_APP_ID="sync-py") as url:
        result = sync_app(url)
        assert (result.ok, result.app_id, result.kind, result.functions, result.error) == (
            True, "sync-py", "out_of_band", 2, None)
    app = SdkApp.objects.get()
    assert (app.app_id, app.url, app.runtime, app.sdk, app.framework, app.last_sync_ok, app.last_sync_kind) == (
        "sync-py", url, "inngest-py", "py:v0.5.19", "django", True, "out_of_band")
    square = Function.objects.get(app_id="sync-py", function_id="compute-square")
    assert square.trigger == "calculate/square"
    assert square.config["url"] == f"{url}?fnId=sync-py-compute-square&stepId=step"
    assert (square.config["retries"], square.config["concurrency"], square.config["rate_limit"]) == (
        2, {"limit": 2, "key": "event.data.user"}, {"limit": 100, "period_ms": 60_000, "key": None})
    assert CancelRule.objects.get().expression == "async.data.id == event.data.id"
    main = Function.objects.get(app_id="sync-py", function_id="main-function")
    assert main.config["unsupported"] == ["throttle: not enforced"]

    with sdk_app(tmp_path, port, INNGEST_DEV=live_server.url, INNGEST_APP_ID="sync-py", PROBE_FUNCTIONS="one") as url:
        assert sync_app(url).functions == 1
    assert list(Function.objects.values_list("function_id", flat=True)) == ["compute-square"]


def test_signed_mode_syncs_in_band_and_verifies_the_answer(
        transactional_db: None, live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    with sdk_app(tmp_path, free_port(), INNGEST_DEV="0", INNGEST_SIGNING_KEY=KEY, INNGEST_BASE_URL=live_server.url,
                 INNGEST_APP_ID="signed-py") as url:
        result = sync_app(url)
        assert (result.ok, result.app_id, result.kind, result.functions) == (True, "signed-py", "in_band", 2)
        app = SdkApp.objects.get()
        assert (app.url, app.sdk, app.framework, app.last_sync_kind, app.last_sync_ok) == (
            url, "py:v0.5.19", "django", "in_band", True)
        assert Function.objects.filter(app_id="signed-py").count() == 2

        # The server's key changes: the app refuses the signature; the failure is recorded on the known app.
        settings.RUNS_INNGEST_SIGNING_KEY = OTHER_KEY
        failed = sync_app(url)
    assert not failed.ok and "HTTP 401" in (failed.error or "")
    app = SdkApp.objects.get()
    assert (app.last_sync_ok, app.last_sync_kind) == (False, "in_band")
    assert "HTTP 401" in app.last_sync_error
    assert Function.objects.filter(app_id="signed-py").count() == 2  # a failed sync changes no functions


class FakeInBandApp(ThreadingHTTPServer):
    """A stand-in SDK app on a free port that answers the in-band PUT with a valid-looking config (one function
    of app `forged`) and whatever `X-Inngest-Signature` `signature(body)` gives (None: no header)."""

    def __init__(self, signature: Callable[[bytes], str | None]) -> None:
        super().__init__(("127.0.0.1", 0), _FakeInBandHandler)
        self.signature = signature
        self.url = f"http://127.0.0.1:{self.server_address[1]}/api/inngest"

    def answer(self) -> bytes:
        return json.dumps({
            "app_id": "forged", "framework": "express", "sdk": "js:v4.24.0", "url": self.url,
            "functions": [{"id": "forged-main", "name": "main", "triggers": [{"event": "main/event"}],
                           "steps": {"step": {"id": "step", "name": "step", "runtime": {
                               "type": "http", "url": f"{self.url}?fnId=forged-main&stepId=step"}}}}]}).encode()


class _FakeInBandHandler(BaseHTTPRequestHandler):
    server: FakeInBandApp

    def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.server.answer()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Inngest-Sync-Kind", "in_band")
        signature = self.server.signature(body)
        if signature is not None:
            self.send_header("X-Inngest-Signature", signature)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def fake_in_band_app(signature: Callable[[bytes], str | None]) -> Iterator[str]:
    server = FakeInBandApp(signature)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(("signature", "reason"), [
    (lambda body: signing.sign(body, OTHER_KEY), "does not verify with the configured signing key"),  # forged
    (lambda body: signing.sign(body + b" ", KEY), "does not verify with the configured signing key"),  # another body
    (lambda body: signing.sign(body, KEY, timestamp=int(time.time()) - 3600), "s old"),  # replayed
    (lambda body: "t=1&s=", "malformed X-Inngest-Signature"),
    (lambda body: None, "no X-Inngest-Signature header"),
])
def test_signed_mode_refuses_an_in_band_answer_whose_signature_is_wrong_and_registers_nothing(
        db: None, settings: Any, signature: Callable[[bytes], str | None], reason: str) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    with fake_in_band_app(signature) as url:
        result = sync_app(url)
    assert (result.ok, result.app_id, result.kind) == (False, None, "in_band")
    assert result.error and result.error.startswith("the app's answer is refused:") and reason in result.error
    assert (SdkApp.objects.count(), Function.objects.count()) == (0, 0)
    # The same answer signed with the server's key is registered: only the signature was wrong.
    with fake_in_band_app(lambda body: signing.sign(body, KEY)) as url:
        assert sync_app(url).ok
    assert list(Function.objects.values_list("app_id", "function_id")) == [("forged", "main")]


def test_signed_mode_refuses_an_app_left_in_dev_mode(
        transactional_db: None, live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    with sdk_app(tmp_path, free_port(), INNGEST_DEV=live_server.url, INNGEST_APP_ID="devapp") as url:
        result = sync_app(url)
    assert not result.ok
    assert result.error and "server_kind_mismatch" in result.error and "the app is in dev mode" in result.error
    assert SdkApp.objects.count() == 0


def test_dev_mode_notices_an_app_that_registers_elsewhere(
        transactional_db: None, live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.RUNS_INNGEST_DEV = True
    elsewhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with sdk_app(tmp_path, free_port(), INNGEST_DEV=elsewhere, INNGEST_APP_ID="lost") as url:
        result = sync_app(url)
    assert not result.ok and result.error
    assert SdkApp.objects.count() == 0


def test_an_unreachable_app_is_a_clear_failure(transactional_db: None, settings: Any) -> None:
    settings.RUNS_INNGEST_DEV = True
    url = f"http://127.0.0.1:{free_port()}/api/inngest"
    result = sync_app(url)
    assert not result.ok and result.error and result.error.startswith(f"could not reach the app at {url}")
    settings.RUNS_INNGEST_DEV = False
    assert "RUNS_INNGEST_SIGNING_KEY" in (sync_app(url).error or "")  # off: says how to enable


def _send(base: str, key: str, name: str) -> str:
    answer = httpx.post(f"{base}/e/{key}", json=[{"name": name, "data": {}}], timeout=10)
    assert answer.status_code == 200, answer.text
    [event_id] = answer.json()["ids"]
    return str(event_id)


def _output_of_event(base: str, event_id: str, headers: dict[str, str], function_id: str) -> Any:
    """The run of `function_id` the event started, read back through GET /v1/events/<id>/runs, polled until it
    ended (native functions of other test modules that listen to the same event may run too)."""
    found: list[Any] = []

    def ended() -> bool:
        data = httpx.get(f"{base}/v1/events/{event_id}/runs", headers=headers, timeout=10).json()["data"]
        found[:] = [run for run in data if run["function_id"] == function_id]
        return bool(found) and found[0]["status"] != "Running"

    _poll(ended, 60, f"the run of {function_id} for event {event_id} did not end")
    [run] = found
    return run["status"], run["output"]


@pytest.mark.parametrize("mode", ["dev", "signed"])
def test_a_synced_app_runs_main_event_to_the_reference_answer(
        mode: str, transactional_db: None, live_server: Any, settings: Any, tmp_path: Path) -> None:
    """Sync, then `main/event` through POST /e/<key> runs on the synced rows (the HTTP driver calls the app)
    and reads back through the REST v1 reads, in both modes."""
    settings.RUNS_RETRY_BASE_SECONDS = 0.01
    if mode == "dev":
        settings.RUNS_INNGEST_DEV = True
        env, key, headers = {"INNGEST_DEV": live_server.url}, "NO_EVENT_KEY_SET", {}
    else:
        settings.RUNS_INNGEST_SIGNING_KEY = KEY
        env = {"INNGEST_DEV": "0", "INNGEST_SIGNING_KEY": KEY, "INNGEST_BASE_URL": live_server.url}
        key, headers = settings.RUNS_EVENT_KEY, {"Authorization": f"Bearer {signing.bearer_digest(KEY)}"}
    with sdk_app(tmp_path, free_port(), INNGEST_APP_ID=f"e2e-{mode}", **env) as url:
        assert sync_app(url).ok
        with worker():
            event_id = _send(live_server.url, key, "main/event")
            assert _output_of_event(live_server.url, event_id, headers, f"e2e-{mode}-main-function") == (
                "Completed", "Square of 4 is 16.")
