"""Processes and HTTP helpers of the SDK tests: a `manage.py serve` in dev or signed mode, the official SDK apps of
tests/sdk_apps (inngest@3 and inngest@4 on Express, inngest-py on Django) on free ports, and the Inngest-side
calls a test makes (sync an app, send an event, read an event's runs).

Everything speaks real HTTP: the apps are the unmodified SDKs, configured only through the SDKs' own
environment variables (protocol document section 2).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = ROOT / "tests" / "sdk_apps"
NODE_MODULES = APPS_DIR / "node_modules"
KINDS = ("js3", "js4", "py")
MODES = ("dev", "signed")
DEFAULT_APP_IDS = {"js3": "ts-app", "js4": "ts-app", "py": "py-app"}
RUNTIMES = {"js3": "inngest-js", "js4": "inngest-js", "py": "inngest-py"}
# A signing key in the SDKs' format (`signkey-<env>-<hex>`), new per test session.
SIGNING_KEY = f"signkey-test-{secrets.token_hex(32)}"
STARTUP_SECONDS = 60.0
FINISHED = ("Completed", "Failed", "Cancelled")  # Inngest's words for a run that ended


def in_ci() -> bool:
    """CI (env CI, or .ci/run, which exports TRIBUTARY_CI): a missing npm install is a failure there, not a skip."""
    return bool(os.environ.get("CI") or os.environ.get("TRIBUTARY_CI"))


def node_missing_reason() -> str | None:
    """Why the JavaScript apps cannot start here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (the JS SDK apps need node 20+)"
    for package in ("inngest3", "inngest4", "express"):
        if not (NODE_MODULES / package / "package.json").exists():
            return f"{NODE_MODULES} has no {package}: run `npm ci --prefix tests/sdk_apps`"
    return None


def require_node(kind: str) -> None:
    """For a test or fixture that needs the app `kind`: a JS app without node or its npm install is skipped
    with the reason, except in CI, where that fails loudly."""
    reason = node_missing_reason() if kind in ("js3", "js4") else None
    if reason and in_ci():
        pytest.fail(f"cannot start the {kind} app: {reason}")
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, *, headers: Mapping[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 15.0) -> Response:
    """One HTTP request; any status comes back as a Response (4xx/5xx are answers too, not exceptions)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


class Process:
    """A subprocess in its own process group with its output in a log file; `stop()` ends the group
    (SIGTERM, then SIGKILL after a timeout) so nothing outlives the test that started it."""

    def __init__(self, name: str, args: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as out:
            self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        # Whatever else the process started in its group (nothing, normally) goes too.
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


def wait_answering(process: Process, url: str, what: str, accept: Callable[[Response], bool],
                   timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(f"{what} exited with {process.proc.returncode}:\n{process.log()}")
        try:
            if accept(http("GET", url, timeout=2)):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not answer GET {url} within {timeout} s:\n{process.log()}")


# ---- Tributary ---------------------------------------------------------------------------------------------------

@dataclass
class TributaryServer:
    """A running `manage.py serve` (Daphne + embedded worker) against the test database."""

    url: str
    mode: str  # "dev" | "signed"
    event_key: str
    process: Process
    signing_key: str | None = None

    def log(self) -> str:
        return self.process.log()

    def auth_headers(self) -> dict[str, str]:
        """The SDK bearer for the REST reads in signed mode (sha256 of the key); none in dev mode."""
        if not self.signing_key:
            return {}
        from runs.inngest.signing import bearer_digest

        return {"Authorization": f"Bearer {bearer_digest(self.signing_key)}"}


def start_tributary(mode: str, *, database_url: str, data_dir: Path, event_key: str,
                    function_modules: str = "tests.sdk.native_functions", worker: bool = True,
                    extra_env: Mapping[str, str] | None = None) -> TributaryServer:
    """`manage.py serve` on a free port; `worker=False` serves only (`--no-worker`: crash tests run their own
    `manage.py worker` processes, tests/integration/processes.py)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNS_INNGEST_", "INNGEST_"))}
    env.update({"DATABASE_URL": database_url, "RUNS_DATA_DIR": str(data_dir), "RUNS_EVENT_KEY": event_key,
                "RUNS_FUNCTION_MODULES": function_modules, "RUNS_RETRY_BASE_SECONDS": "0.01",
                "PYTHONUNBUFFERED": "1", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"})
    env.pop("REDIS_URL", None)  # embedded mode: the worker runs in the serving process
    signing_key = None
    if mode == "dev":
        env["RUNS_INNGEST_DEV"] = "1"
    else:
        signing_key = env["RUNS_INNGEST_SIGNING_KEY"] = SIGNING_KEY
    env.update(extra_env or {})
    args = [sys.executable, "manage.py", "serve", "--port", str(port), *([] if worker else ["--no-worker"])]
    process = Process(f"tributary-{mode}", args, cwd=ROOT, env=env, log_path=data_dir / "serve.log")
    server = TributaryServer(url=f"http://127.0.0.1:{port}", mode=mode, event_key=event_key, process=process,
                             signing_key=signing_key)
    try:
        wait_answering(process, f"{server.url}/accounts/login/", f"manage.py serve ({mode})",
                       lambda answer: answer.status == 200)
    except BaseException:
        process.stop()
        raise
    return server


def send(server: TributaryServer, name: str, data: Mapping[str, Any] | None = None) -> str:
    """One event through Inngest's event API (`POST /e/<event key>`, a JSON array as the SDKs send it); its id."""
    answer = http("POST", f"{server.url}/e/{server.event_key}", [{"name": name, "data": dict(data or {})}])
    assert answer.status == 200, f"POST /e/<key> answered {answer.status}: {answer.body[:500]!r}"
    ids = answer.json()["ids"]
    assert len(ids) == 1, ids
    return str(ids[0])


def event_runs(server: TributaryServer, event_id: str) -> list[dict[str, Any]]:
    answer = http("GET", f"{server.url}/v1/events/{event_id}/runs", headers=server.auth_headers())
    assert answer.status == 200, f"GET /v1/events/{event_id}/runs answered {answer.status}: {answer.body[:500]!r}"
    return list(answer.json()["data"])


def get_run(server: TributaryServer, run_id: str) -> dict[str, Any]:
    answer = http("GET", f"{server.url}/v1/runs/{run_id}", headers=server.auth_headers())
    assert answer.status == 200, f"GET /v1/runs/{run_id} answered {answer.status}: {answer.body[:500]!r}"
    return dict(answer.json()["data"])


def wait_run(server: TributaryServer, event_id: str, function_id: str, *,
             statuses: Collection[str] = FINISHED, timeout: float = 30.0) -> dict[str, Any]:
    """The run of `function_id` (composite `<app id>-<function id>`) that `event_id` started, once its Inngest
    status is one of `statuses` (by default: once it ended)."""

    def found() -> dict[str, Any] | None:
        for run in event_runs(server, event_id):
            if run.get("function_id") == function_id and run.get("status") in statuses:
                return run
        return None

    try:
        return wait_until(found, lambda run: run is not None, timeout,  # type: ignore[return-value]
                          f"a {function_id} run of event {event_id} in {sorted(statuses)}")
    except TimeoutError as error:
        raise AssertionError(f"{error}; its runs: {event_runs(server, event_id)}\n{server.log()[-4000:]}") from None


# ---- SDK apps ----------------------------------------------------------------------------------------------------

@dataclass
class SdkAppProcess:
    """An official SDK app serving its functions at `url`."""

    kind: str  # js3 | js4 | py
    app_id: str
    mode: str
    url: str
    process: Process
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def runtime(self) -> str:
        return RUNTIMES[self.kind]

    def function_id(self, function_id: str) -> str:
        """The composite id the SDK and the REST API name a function by."""
        return f"{self.app_id}-{function_id}"

    def log(self) -> str:
        return self.process.log()

    def call_requests(self, run_id: str) -> list[dict[str, Any]]:
        """The Call Requests this app received for `run_id`, in order, as its call log has them
        (`call-request {...}` lines: tests/sdk_apps/serve.js, py/pyapp/calls.py)."""
        calls = []
        for line in self.log().splitlines():
            _, marker, logged = line.partition("call-request ")
            if marker:
                call = json.loads(logged)
                if call.get("run_id") == run_id:
                    calls.append(call)
        return calls


def sdk_env(mode: str, origin: str, *, signing_key: str | None = None, event_key: str | None = None,
            ) -> dict[str, str]:
    """The SDK's own variables for a server at `origin` (README "Use your Inngest functions")."""
    if mode == "dev":
        env = {"INNGEST_DEV": origin}
    elif mode == "signed":
        if not signing_key:
            raise ValueError("signed mode needs a signing key")
        env = {"INNGEST_DEV": "0", "INNGEST_BASE_URL": origin, "INNGEST_SIGNING_KEY": signing_key}
    else:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if event_key:
        env["INNGEST_EVENT_KEY"] = event_key
    return env


def start_sdk_app(kind: str, *, mode: str, origin: str, log_dir: Path, app_id: str | None = None,
                  signing_key: str | None = None, event_key: str | None = None,
                  extra_env: Mapping[str, str] | None = None) -> SdkAppProcess:
    """Start one of tests/sdk_apps on a free port and wait until it answers its introspection GET. `extra_env`
    holds the apps' own test switches (`OMIT_FUNCTIONS`: function ids to leave out; tests/sdk_apps/README.md)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    app_id = app_id or DEFAULT_APP_IDS[kind]
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INNGEST_", "RUNS_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(sdk_env(mode, origin, signing_key=signing_key, event_key=event_key))
    env.update({"PORT": str(port), "APP_ID": app_id, "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    if kind == "py":
        env["DJANGO_SETTINGS_MODULE"] = "pyapp.settings"
        args = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        cwd = APPS_DIR / "py"
    else:
        args = ["node", f"{kind}/app.js"]
        cwd = APPS_DIR
    log_path = log_dir / f"{kind}-{app_id}-{mode}-{port}.log"
    process = Process(f"{kind} app {app_id}", args, cwd=cwd, env=env, log_path=log_path)
    app = SdkAppProcess(kind=kind, app_id=app_id, mode=mode, url=f"http://127.0.0.1:{port}/api/inngest",
                        process=process, env=env)
    try:
        # Any HTTP answer will do: in signed (cloud) mode an unsigned GET is a 401.
        wait_answering(process, app.url, f"the {kind} app", lambda answer: answer.status in (200, 401))
    except BaseException:
        process.stop()
        raise
    return app


def sync(app: SdkAppProcess) -> Response:
    """Ask the app to sync: a plain PUT to its URL, as `curl -X PUT` would; the SDK then POSTs /fn/register to
    the server it is pointed at (out-of-band; in signed mode with its bearer) and answers the PUT."""
    answer = http("PUT", app.url, timeout=30)
    assert answer.status == 200, f"PUT {app.url} answered {answer.status}: {answer.body[:500]!r}\n{app.log()}"
    return answer


def wait_registered(app: SdkAppProcess, timeout: float = 10.0) -> Any:
    """The SdkApp row of `app` once its last sync succeeded from its current URL (the test database, read by
    the test process; tests that use this need `transactional_db`)."""
    from runs.models import SdkApp

    def registered() -> Any:
        return SdkApp.objects.filter(app_id=app.app_id, url=app.url, last_sync_ok=True).first()

    return wait_until(registered, lambda row: row is not None, timeout, f"app {app.app_id} registered from {app.url}")


def sync_in_band(app: SdkAppProcess, server: TributaryServer) -> Any:
    """Tributary asks the app to sync (runs/inngest_sync.py `sync_app`, what "Sync now" and "add app by URL" do),
    called in the test process with the server's mode: in signed mode a signed in-band PUT whose answer is
    verified and registered; in dev mode a plain PUT after which the SDK registers itself. Returns the
    SyncResult."""
    from django.test import override_settings

    from runs.inngest_sync import sync_app

    mode_settings = ({"RUNS_INNGEST_SIGNING_KEY": server.signing_key, "RUNS_INNGEST_DEV": False}
                     if server.mode == "signed" else {"RUNS_INNGEST_SIGNING_KEY": "", "RUNS_INNGEST_DEV": True})
    with override_settings(**mode_settings):
        return sync_app(app.url)
