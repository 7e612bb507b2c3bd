"""End-to-end fixtures: a live `manage.py serve` (Daphne + embedded worker + in-memory channel layer, one
process, like a newcomer runs it) against pytest-django's test database, and real headless Chromium.

The server is a subprocess so that the worker, the websocket consumers and the channel layer share one process
(live updates in embedded mode). Events go to it over HTTP (POST /api/events), so its worker wakes at once on
SQLite too; the test process reads and writes the same database directly for setup and assertions.
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
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, missing_reason
from tests.integration.processes import database_url_for_workers

# Playwright's sync API runs an event loop in this thread; the ORM calls of the tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
EVENT_KEY = "e2e-event-key"
PASSWORD = "e2e-password"
STARTUP_SECONDS = 60

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = missing_reason()
    if reason:
        for item in items:
            if "tests/e2e" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        """An event through the server's intake (its worker wakes at once, its sockets see the deltas)."""
        body = json.dumps({"name": name, "data": data or {}}).encode()
        request = urllib.request.Request(f"{self.url}/api/events", data=body, method="POST", headers={
            "Authorization": f"Bearer {EVENT_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["ids"][0]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def run_of_event(event_id: str, function_id: str, statuses: Collection[str] | None = None, timeout: float = 20.0) -> Any:
    from runs.models import Run

    def found() -> Any:
        run = Run.objects.filter(event_id=event_id, function_id=function_id).first()
        return run if run and (statuses is None or run.status in statuses) else None

    return wait_for(found, f"a {function_id} run of event {event_id} in {statuses or 'any status'}", timeout)


@pytest.fixture
def e2e_rows(transactional_db: None, live_server_process: LiveServer) -> LiveServer:
    """Per test (transactional_db empties the tables after each): two logins and the functions' rows."""
    from dashboard import demo_functions
    from runs.store.functions import sync_functions
    from tests.e2e import e2e_functions

    _create_users()
    sync_functions([*e2e_functions.app.functions.values(), *demo_functions.app.functions.values()])
    return live_server_process


def _create_users() -> None:
    from django.contrib.auth.models import Permission, User

    operator = User.objects.create_user("e2e-operator", password=PASSWORD)
    operator.user_permissions.add(Permission.objects.get(codename="operate_run", content_type__app_label="runs"))
    User.objects.create_user("e2e-viewer", password=PASSWORD)


@pytest.fixture(scope="module")
def live_server_process(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory,
                        ) -> Iterator[LiveServer]:
    """`manage.py serve` on a free port against the test database, for one test module. Tests use
    transactional_db (committed rows, visible to the server; tables emptied after each test) and
    the `e2e_rows` fixture puts back what each test needs."""
    with django_db_blocker.unblock():
        port = free_port()
        tmp = tmp_path_factory.mktemp("e2e-serve")
        log_path = tmp / "serve.log"
        env = dict(os.environ)
        env.update({"DATABASE_URL": database_url_for_workers(), "RUNS_DATA_DIR": str(tmp), "RUNS_EVENT_KEY": EVENT_KEY,
                    "RUNS_FUNCTION_MODULES": "tests.e2e.e2e_functions,dashboard.demo_functions",
                    "RUNS_RETRY_BASE_SECONDS": "0.01", "PYTHONUNBUFFERED": "1",
                    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"})
        env.pop("REDIS_URL", None)  # embedded mode: in-memory channel layer in the server process
        with log_path.open("wb") as out:
            server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT,
                                      env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        live = LiveServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
        try:
            _wait_listening(server, port, live)
            yield live
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)


def _wait_listening(server: subprocess.Popen[bytes], port: int, live: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}:\n{live.log()}")
        if "Tributary on http" in live.log():
            try:
                with urllib.request.urlopen(f"{live.url}/accounts/login/", timeout=2):
                    return
            except (OSError, urllib.error.URLError):
                pass
        time.sleep(0.1)
    pytest.fail(f"serve did not answer on port {port} within {STARTUP_SECONDS} s:\n{live.log()}")


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_context(chromium_browser: Browser) -> Iterator[BrowserContext]:
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield ctx
    finally:
        ctx.close()


def log_in(page: Page, server: LiveServer, username: str = "e2e-operator") -> None:
    page.goto(f"{server.url}/accounts/login/?next=/runs/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{server.url}/runs/")


@pytest.fixture
def operator_page(browser_context: BrowserContext, e2e_rows: LiveServer) -> Page:
    """A logged-in operator's page (runs.operate_run)."""
    logged_in = browser_context.new_page()
    log_in(logged_in, e2e_rows)
    return logged_in
