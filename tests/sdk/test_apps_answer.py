"""The official SDK apps of tests/sdk_apps start and speak the protocol document's wire format, without Tributary:
each answers its introspection GET, syncs by POSTing /fn/register to the origin its environment names, and
answers hand-made Call Requests (section 5 body) for the reference example: compute-square completes with
`{"result": 16}`, main-function plans its invoke (206 InvokeFunction) and completes once the invoke is memoized.
In signed (cloud) mode the apps refuse an unsigned Call Request and accept one signed the way
runs/inngest/signing.py signs (and sign their answers).

These pin down what the end-to-end tests rely on: if an SDK upgrade or an app change breaks them, the failure
names the app instead of a run that never completes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runs.inngest import signing
from tests.sdk.harness import KINDS, SIGNING_KEY, SdkAppProcess, http, require_node, start_sdk_app

COMPUTE_SQUARE_VALUE = "30b458a6577e47eeb2eaae50cb3fc6b8f1351f19"  # sha1("compute-square-value"), both SDKs
PROBES = {
    "probe-step-run": "probe/step-run", "probe-parallel": "probe/parallel", "probe-sleep": "probe/sleep",
    "probe-wait": "probe/wait", "probe-send": "probe/send", "probe-retry": "probe/retry",
    "probe-step-failed": "probe/step-failed", "probe-nonretriable": "probe/nonretriable",
    "probe-retry-after": "probe/retry-after", "probe-invoke-missing": "probe/invoke-missing",
    "probe-invoke-timeout": "probe/invoke-timeout", "probe-slow": "probe/slow",
    "probe-invoke-native": "probe/invoke-native", "probe-leaf-fails": "probe/leaf-fails",
    "probe-chain": "probe/chain", "probe-long": "probe/long", "probe-invoke-slow": "probe/invoke-slow",
    "probe-fixable": "probe/fixable", "probe-fix-parent": "probe/fix-parent",
    "probe-wait-timeout": "probe/wait-timeout", "probe-cancel-on": "probe/cancel-on",
    "probe-concurrency": "probe/concurrency", "probe-invoke-concurrency": "probe/invoke-concurrency",
    "probe-rate-limit": "probe/rate-limit", "probe-parallel-flaky": "probe/parallel-flaky",
    "probe-parallel-broken": "probe/parallel-broken", "probe-parallel-sleep": "probe/parallel-sleep",
    "probe-step-retry-after": "probe/step-retry-after", "probe-invoke-native-fails": "probe/invoke-native-fails",
}
TRIGGERS = {"compute-square": "calculate/square", "main-function": "main/event", **PROBES}
# The cross-runtime probes each invoke the other SDK's app, so each app has only its own.
CROSS_PROBES = {"js3": {"probe-invoke-py": "probe/invoke-py"}, "js4": {"probe-invoke-py": "probe/invoke-py"},
                "py": {"probe-invoke-ts": "probe/invoke-ts"}}


def triggers_of(kind: str) -> dict[str, str]:
    return {**TRIGGERS, **CROSS_PROBES[kind]}


class Recorder:
    """Plays Inngest's part for registration: records each request and answers `POST /fn/register` as
    Inngest does (200 `{"ok": true, "modified": true}`)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": json.loads(body) if body else None})
                ok = self.path.split("?")[0] == "/fn/register"
                answer = json.dumps({"ok": True, "modified": True} if ok else {"error": "not here"}).encode()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def registrations(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].split("?")[0] == "/fn/register"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    running = Recorder()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def apps(recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], SdkAppProcess]]:
    """`apps(kind, mode)`: the app pointed at the recorder, started once per module."""
    started: dict[tuple[str, str], SdkAppProcess] = {}
    log_dir: Path = tmp_path_factory.mktemp("sdk-apps-answer")

    def get(kind: str, mode: str) -> SdkAppProcess:
        require_node(kind)
        if (kind, mode) not in started:
            started[(kind, mode)] = start_sdk_app(kind, mode=mode, origin=recorder.url, log_dir=log_dir,
                                                  signing_key=SIGNING_KEY if mode == "signed" else None)
        return started[(kind, mode)]

    try:
        yield get
    finally:
        for app in started.values():
            app.process.stop()


def call_body(event_name: str, data: dict[str, Any], steps: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Call Request body as in protocol document section 5, with the fields the strict SDK (inngest-py) needs."""
    steps = steps or {}
    event = {"id": "01KBZ6J6QZ0000000000000001", "name": event_name, "data": data, "user": {},
             "ts": 1796172756006}
    return {"event": event, "events": [event], "steps": steps,
            "ctx": {"run_id": "01KBZ6J6QZ00000000000000RN", "attempt": 0, "max_attempts": 4,
                    "disable_immediate_execution": False, "use_api": False,
                    "stack": {"stack": list(steps), "current": len(steps)}, "env": "dev", "step_id": "step"},
            "version": -1, "use_api": False}


def call(app: SdkAppProcess, function_id: str, body: dict[str, Any], *, key: str | None = None) -> Any:
    url = f"{app.url}?fnId={app.function_id(function_id)}&stepId=step"
    if key is None:
        return http("POST", url, body)
    raw = signing.canonical(body)
    return http("POST", url, raw=raw, headers={"Content-Type": "application/json",
                                               "X-Inngest-Signature": signing.sign(raw, key)})


@pytest.mark.parametrize("kind", KINDS)
def test_the_app_answers_its_introspection_get_in_dev_mode(apps: Callable[[str, str], SdkAppProcess],
                                                           kind: str) -> None:
    answer = http("GET", apps(kind, "dev").url)
    assert answer.status == 200, answer.body
    assert answer.json()["mode"] == "dev"
    assert answer.json()["function_count"] == len(triggers_of(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_a_put_makes_the_app_register_its_functions_with_the_origin_it_is_pointed_at(
        apps: Callable[[str, str], SdkAppProcess], recorder: Recorder, kind: str) -> None:
    app = apps(kind, "dev")
    before = len(recorder.registrations())
    answer = http("PUT", app.url)
    assert answer.status == 200, answer.body
    [registration] = recorder.registrations()[before:]
    body = registration["body"]
    assert (body.get("appName") or body.get("appname")) == app.app_id
    assert body["url"] == app.url
    functions = {fn["id"]: fn for fn in body["functions"]}
    assert set(functions) == {app.function_id(fn) for fn in triggers_of(kind)}
    for function_id, trigger in triggers_of(kind).items():
        fn = functions[app.function_id(function_id)]
        assert fn["triggers"] == [{"event": trigger}]
        assert fn["steps"]["step"]["runtime"]["url"] == (
            f"{app.url}?fnId={app.function_id(function_id)}&stepId=step")
    assert functions[app.function_id("probe-step-failed")]["steps"]["step"]["retries"] == {"attempts": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_compute_square_completes_on_its_first_call(apps: Callable[[str, str], SdkAppProcess], kind: str) -> None:
    answer = call(apps(kind, "dev"), "compute-square", call_body("calculate/square", {"number": 4}))
    assert (answer.status, answer.json()) == (200, {"result": 16})


@pytest.mark.parametrize("kind", KINDS)
def test_main_function_plans_the_invoke_then_completes_with_it_memoized(apps: Callable[[str, str], SdkAppProcess],
                                                                        kind: str) -> None:
    app = apps(kind, "dev")
    first = call(app, "main-function", call_body("main/event", {}))
    assert first.status == 206, first.body
    [op] = first.json()
    assert (op["op"], op["id"], op["displayName"]) == ("InvokeFunction", COMPUTE_SQUARE_VALUE, "compute-square-value")
    assert op["opts"]["function_id"] == app.function_id("compute-square")
    assert op["opts"]["payload"]["data"] == {"number": 4}

    memo = {COMPUTE_SQUARE_VALUE: {"data": {"result": 16}}}
    resumed = call(app, "main-function", call_body("main/event", {}, steps=memo))
    assert (resumed.status, resumed.json()) == (200, "Square of 4 is 16.")


@pytest.mark.parametrize("kind", KINDS)
def test_in_signed_mode_only_a_signed_call_request_runs_and_the_answer_is_signed(
        apps: Callable[[str, str], SdkAppProcess], kind: str) -> None:
    app = apps(kind, "signed")
    body = call_body("calculate/square", {"number": 4})

    unsigned = call(app, "compute-square", body)
    assert unsigned.status == 401, unsigned.body
    wrong = call(app, "compute-square", body, key=f"signkey-test-{'0' * 64}")
    assert wrong.status == 401, wrong.body

    signed = call(app, "compute-square", body, key=SIGNING_KEY)
    assert (signed.status, signed.json()) == (200, {"result": 16})
    signature = signed.headers.get("x-inngest-signature")
    assert signing.verify(signed.body, signature, [SIGNING_KEY]) == SIGNING_KEY


@pytest.mark.parametrize("kind", KINDS)
def test_an_invoked_run_is_called_with_inngests_function_invoked_event(apps: Callable[[str, str], SdkAppProcess],
                                                                       kind: str) -> None:
    """How a child of step.invoke must be called (protocol section 8.2): its event is `inngest/function.invoked`
    with the invoke's data (plus `_inngest` metadata), whatever the function's own trigger."""
    app = apps(kind, "dev")
    data = {"number": 4, "_inngest": {"fn_id": app.function_id("compute-square"),
                                      "correlation_id": f"01KBZ6J6QZ00000000000000RN.{COMPUTE_SQUARE_VALUE}"}}
    answer = call(app, "compute-square", call_body("inngest/function.invoked", data))
    assert (answer.status, answer.json()) == (200, {"result": 16})


@pytest.mark.parametrize("kind", KINDS)
def test_only_inngest_js_4_refuses_an_event_that_is_not_one_of_the_functions_triggers(
        apps: Callable[[str, str], SdkAppProcess], kind: str) -> None:
    """inngest-js 4 validates the Call Request's event name against the function's triggers (400, not
    retriable, EventValidationError): a server must call a run with the event that started it, or
    `inngest/function.invoked` for an invoked one. inngest-js 3 and inngest-py do not check."""
    answer = call(apps(kind, "dev"), "compute-square", call_body("tributary/other", {"number": 4}))
    if kind == "js4":
        assert (answer.status, answer.headers.get("x-inngest-no-retry")) == (400, "true"), answer.body
        assert answer.json()["name"] == "EventValidationError"
    else:
        assert (answer.status, answer.json()) == (200, {"result": 16})
