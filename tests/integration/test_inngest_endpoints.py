"""Inngest's server endpoints for official SDK apps (runs/inngest_api.py): POST /fn/register, POST /e/<key>,
GET /v1/events/<id>/runs and GET /v1/runs/<id>, in off, dev and signed mode.

Registration bodies are the SDKs' own: inngest-py's built by the real SDK (its `get_config`), inngest-js's as
captured from inngest 4.24.0 (protocol document section 3). Bad input is a 4xx with a JSON reason, never a 500,
and stores nothing."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from typing import Any

import inngest
import pytest
from django.test import Client

from runs.inngest import signing
from runs.models import CancelRule, Event, Function, Run, SdkApp
from runs.sdk import App, Context
from runs.status import RunStatus
from runs.store.functions import sync_functions
from runs.store.sdk_apps import list_apps, sdk_app_ids
from runs.testing import wait_for_run

EVENT_KEY = "test-event-key-inngest"
KEY = "signkey-test-" + "ab12" * 16
FALLBACK = "signkey-test-" + "cd34" * 16
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

native = App("native-inngest-tests")


@native.function(id="double", trigger="shared/number", retries=0)
async def double(ctx: Context) -> int:
    return int(ctx.event.data["n"]) * 2


@native.function(id="explode", trigger="native/explode", retries=0)
async def explode(ctx: Context) -> None:
    raise ValueError("boom")


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def py_body(app_id: str = "compat-py", *, only_square: bool = False) -> dict[str, Any]:
    """The body inngest-py 0.5.19 posts to /fn/register (its functions' configs are the SDK's own)."""
    client = inngest.Inngest(app_id=app_id, is_production=False)

    @client.create_function(fn_id="compute-square", trigger=inngest.TriggerEvent(event="shared/number"), retries=2,
                            cancel=[inngest.Cancel(event="calc/cancel", if_exp="async.data.id == event.data.id")])
    def compute_square(ctx: inngest.ContextSync) -> None:
        return None

    @client.create_function(fn_id="main-function", trigger=inngest.TriggerEvent(event="main/event"))
    def main_function(ctx: inngest.ContextSync) -> None:
        return None

    url = "http://127.0.0.1:8791/api/inngest"
    fns = [compute_square] if only_square else [compute_square, main_function]
    return {"url": url, "deploy_type": "ping", "framework": "django", "appname": app_id, "sdk": "py:v0.5.19",
            "v": "0.1", "capabilities": {"in_band_sync": "v1", "trust_probe": "v1", "connect": "v1"},
            "functions": [_strip_none(fn.get_config(url).main.to_dict()) for fn in fns]}


def _nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"x": value}
    return value


JS_BODY = {
    "url": "http://127.0.0.1:8792/api/inngest", "deployType": "ping", "framework": "express", "appName": "compat-js",
    "sdk": "js:v4.24.0", "v": "0.1", "capabilities": {"trust_probe": "v1", "connect": "v1"},
    "featureObservations": {},
    "functions": [{"id": "compat-js-main-function", "name": "main-function", "triggers": [{"event": "main/event"}],
                   "concurrency": {"limit": 1},
                   "steps": {"step": {"id": "step", "name": "step", "runtime": {
                       "type": "http",
                       "url": "http://127.0.0.1:8792/api/inngest?fnId=compat-js-main-function&stepId=step"}}}}],
}


@pytest.fixture(autouse=True)
def _mode_only_from_settings(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    for name in ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    settings.RUNS_EVENT_KEY = EVENT_KEY


@pytest.fixture
def dev(settings: Any, db: None) -> None:
    settings.RUNS_INNGEST_DEV = True


@pytest.fixture
def signed(settings: Any, db: None) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    settings.RUNS_INNGEST_SIGNING_KEY_FALLBACK = FALLBACK


def register(client: Client, body: Any, *, auth: str | None = None, raw: bytes | None = None,
             sdk: str = "inngest-py:v0.5.19") -> Any:
    headers = {"X-Inngest-SDK": sdk, "X-Inngest-Framework": "django"}
    if auth is not None:
        headers["Authorization"] = auth
    return client.post("/fn/register", data=raw if raw is not None else json.dumps(body),
                       content_type="application/json", headers=headers)


def send(client: Client, body: Any, key: str = EVENT_KEY, *, seed: str | None = None) -> Any:
    headers = {"X-Inngest-Event-Id-Seed": seed} if seed else {}
    return client.post(f"/e/{key}", data=json.dumps(body), content_type="application/json", headers=headers)


def stored() -> tuple[int, int, int, int, int]:
    return (SdkApp.objects.count(), Function.objects.count(), CancelRule.objects.count(), Event.objects.count(),
            Run.objects.count())


# --- off mode -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("post", "/fn/register"), ("post", f"/e/{EVENT_KEY}"),
                                              ("get", "/v1/events/x/runs"), ("get", "/v1/runs/x")])
def test_with_neither_a_key_nor_dev_mode_every_endpoint_refuses_saying_how_to_enable(
        client: Client, db: None, method: str, path: str) -> None:
    response = getattr(client, method)(path, data=json.dumps(py_body()) if method == "post" else None,
                                       content_type="application/json")
    assert response.status_code == 403
    assert response.json()["status"] == 403
    assert "RUNS_INNGEST_SIGNING_KEY" in response.json()["error"] and "RUNS_INNGEST_DEV" in response.json()["error"]
    assert stored() == (0, 0, 0, 0, 0)


# --- POST /fn/register ----------------------------------------------------------------------------------


def test_dev_mode_registers_an_inngest_py_app_unauthenticated(client: Client, dev: None) -> None:
    response = register(client, py_body())
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "modified": True}
    app = SdkApp.objects.get()
    assert (app.app_id, app.url, app.runtime, app.sdk, app.framework) == (
        "compat-py", "http://127.0.0.1:8791/api/inngest", "inngest-py", "py:v0.5.19", "django")
    assert (app.last_sync_ok, app.last_sync_kind, app.last_sync_error) == (True, "out_of_band", "")
    square = Function.objects.get(app_id="compat-py", function_id="compute-square")
    assert square.trigger == "shared/number"
    assert square.config["retries"] == 2
    assert square.config["url"] == "http://127.0.0.1:8791/api/inngest?fnId=compat-py-compute-square&stepId=step"
    rule = CancelRule.objects.get()
    assert (rule.app_id, rule.function_id, rule.event, rule.match, rule.expression) == (
        "compat-py", "compute-square", "calc/cancel", None, "async.data.id == event.data.id")
    assert sdk_app_ids() == ["compat-py"]
    [info] = list_apps()
    assert [fn.function_id for fn in info.functions] == ["compute-square", "main-function"]


def test_dev_mode_accepts_inngest_js_with_its_bearer_undefined(client: Client, dev: None) -> None:
    response = register(client, JS_BODY, auth="Bearer undefined", sdk="inngest-js:v4.24.0")
    assert response.status_code == 200, response.content
    fn = Function.objects.get(app_id="compat-js")
    assert (fn.function_id, fn.config["runtime"], fn.config["concurrency"]) == (
        "main-function", "inngest-js", {"limit": 1, "key": None})


def test_a_call_url_on_the_apps_origin_spelled_otherwise_is_accepted(client: Client, dev: None) -> None:
    """Only the origin counts: another path, an explicit default port, the host's case."""
    body = _calling("http://127.0.0.1:8792/other/path?fnId=compat-js-main-function&stepId=step")
    assert register(client, {**body, "url": "http://127.0.0.1:8792"}, sdk="inngest-js:v4.24.0").status_code == 200
    https = _calling("https://apps.example.com/api/inngest?fnId=compat-js-main-function&stepId=step")
    response = register(client, {**https, "url": "https://APPS.example.com:443/api/inngest"}, sdk="inngest-js:v4.24.0")
    assert response.status_code == 200, response.content


def test_the_same_registration_again_is_not_modified_and_a_changed_one_updates_and_drops(
        client: Client, dev: None) -> None:
    register(client, py_body())
    assert register(client, py_body()).json() == {"ok": True, "modified": False}
    changed = py_body(only_square=True)
    changed["functions"][0]["steps"]["step"]["retries"] = {"attempts": 5}
    del changed["functions"][0]["cancel"]
    assert register(client, changed).json() == {"ok": True, "modified": True}
    [fn] = Function.objects.all()
    assert (fn.function_id, fn.config["retries"]) == ("compute-square", 5)
    assert CancelRule.objects.count() == 0
    assert register(client, changed).json()["modified"] is False


def test_a_function_that_vanished_keeps_its_runs(client: Client, dev: None) -> None:
    register(client, py_body())
    send(client, {"name": "main/event", "data": {}})
    run = Run.objects.get(app_id="compat-py", function_id="main-function")
    register(client, py_body(only_square=True))
    assert not Function.objects.filter(app_id="compat-py", function_id="main-function").exists()
    assert Run.objects.filter(id=run.id).exists()


def _calling(url: str) -> dict[str, Any]:
    """JS_BODY with its function's call URL (`steps.step.runtime.url`) replaced by `url`."""
    function = copy.deepcopy(JS_BODY["functions"][0])  # type: ignore[index]
    function["steps"]["step"]["runtime"]["url"] = url
    return {**JS_BODY, "functions": [function]}


def _with_lone_surrogates() -> list[dict[str, Any]]:
    """JS_BODY with a lone surrogate in each string the store writes (and one it only keeps in the JSON)."""
    bodies = [{**JS_BODY, "appName": "\ud800x"}, {**JS_BODY, "url": "http://127.0.0.1:8792/\udfff"},
              {**JS_BODY, "framework": "express\ud800"}, {**JS_BODY, "sdk": "js:v4\ud800"},
              {**JS_BODY, "featureObservations": {"\ud800": True}}]
    for field, value in (("name", "main\ud800"), ("id", "compat-js-\ud800"),
                         ("triggers", [{"event": "main/\ud800"}]), ("cancel", [{"event": "x\udc00"}])):
        bodies.append({**JS_BODY, "functions": [{**JS_BODY["functions"][0], field: value}]})  # type: ignore[dict-item]
    return bodies


@pytest.mark.parametrize(("body", "raw", "reason"), [
    (None, b"{not json", "body is not JSON"),
    (None, b"", "body is empty"),
    ([1, 2], None, "must be a JSON object"),
    ({**JS_BODY, "appName": ""}, None, "'appName' (or 'appname')"),
    ({**JS_BODY, "deployType": "other"}, None, "'deployType' (or 'deploy_type') must be 'ping'"),
    ({**JS_BODY, "url": "ftp://x"}, None, "'url'"),
    ({**JS_BODY, "functions": {}}, None, "'functions'"),
    ({**JS_BODY, "sdk": "go:v0.1"}, None, "unsupported SDK"),
    ({**JS_BODY, "functions": [{**JS_BODY["functions"][0], "debounce": {"period": "soon"}}]}, None,  # type: ignore[dict-item]
     "function 'compat-js-main-function': debounce.period"),
    ({**JS_BODY, "functions": JS_BODY["functions"] * 2}, None, "registered twice"),  # type: ignore[operator]
    ({**JS_BODY, "appName": "nul\u0000app"}, None, "NUL character"),
    # Workers POST to each function's call URL: it must be on the app's origin (scheme, host and port of 'url').
    *[(_calling(url), None, "is not on the app's origin http://127.0.0.1:8792")
      for url in ("http://169.254.169.254/latest/meta-data?fnId=x", "http://127.0.0.1:6379/?fnId=x",
                  "https://127.0.0.1:8792/api/inngest", "http://localhost:8792/api/inngest",
                  "http://127.0.0.1:8792@10.0.0.1/api/inngest")],
    ({**JS_BODY, "url": "http://:8792/api/inngest"}, None, "'url'"),
    ({**JS_BODY, "url": "http://127.0.0.1:99999/api/inngest"}, None, "'url'"),
    # A lone surrogate parses from JSON ("\\ud800") but no database column stores it: 400, not a 500.
    *[(body, None, "not valid Unicode") for body in _with_lone_surrogates()],
    ({**JS_BODY, "featureObservations": _nested(80)}, None, "nests deeper than"),
])
def test_a_bad_registration_is_a_400_with_a_json_reason_and_stores_nothing(
        client: Client, dev: None, body: Any, raw: bytes | None, reason: str) -> None:
    response = register(client, body, raw=raw, sdk="")
    assert response.status_code == 400, response.content
    assert response.json()["status"] == 400
    assert reason in response.json()["error"]
    assert stored() == (0, 0, 0, 0, 0)


def test_an_app_id_of_a_native_app_is_refused(client: Client, dev: None) -> None:
    sync_functions(native.functions.values())
    body = py_body("native-inngest-tests")
    response = register(client, body)
    assert response.status_code == 400
    assert "taken by native functions" in response.json()["error"]
    assert SdkApp.objects.count() == 0
    assert {fn.config.get("runtime") for fn in Function.objects.all()} == {None}


def test_signed_mode_needs_the_sdk_bearer_in_either_form_with_either_key(client: Client, signed: None) -> None:
    bare = signing.bearer_digest(KEY)
    for auth in (None, "Bearer undefined", "Bearer " + "0" * 64, f"Basic {bare}"):
        response = register(client, py_body(), auth=auth)
        assert response.status_code == 401, auth
        assert response.json()["status"] == 401
    assert stored() == (0, 0, 0, 0, 0)
    assert register(client, py_body(), auth=f"Bearer {bare}").status_code == 200  # inngest-py: bare
    assert register(client, JS_BODY, auth=f"Bearer signkey-test-{bare}").status_code == 200  # inngest-js
    fallback = signing.bearer_digest(FALLBACK)
    assert register(client, py_body(), auth=f"Bearer {fallback}").status_code == 200


def test_a_get_on_register_is_a_405_json(client: Client, dev: None) -> None:
    response = client.get("/fn/register")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# --- POST /e/<key> --------------------------------------------------------------------------------------


def test_events_start_native_and_sdk_functions_alike_with_ulid_ids(client: Client, dev: None) -> None:
    sync_functions(native.functions.values())
    register(client, py_body())
    response = send(client, [{"name": "shared/number", "data": {"n": 3}, "ts": 1796172795761}])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == 200
    [event_id] = body["ids"]
    assert ULID.match(event_id)
    assert Event.objects.get(id=event_id).ts == 1796172795761
    started = {(run.app_id, run.function_id) for run in Run.objects.filter(event_id=event_id)}
    assert started == {("native-inngest-tests", "double"), ("compat-py", "compute-square")}


def test_one_object_is_accepted_and_gets_an_id_and_a_ts(client: Client, dev: None) -> None:
    response = send(client, {"name": "curl/event", "data": {"a": 1}})
    [event_id] = response.json()["ids"]
    event = Event.objects.get(id=event_id)
    assert event.ts > 1_700_000_000_000 and event.data == {"a": 1}


def test_a_given_id_is_kept_and_processed_once(client: Client, dev: None) -> None:
    register(client, py_body())
    for _ in range(2):
        assert send(client, [{"name": "main/event", "id": "mine-1"}]).json()["ids"] == ["mine-1"]
    assert Run.objects.filter(event_id="mine-1", app_id="compat-py").count() == 1


def test_a_retried_send_with_the_same_id_seed_names_the_same_events(client: Client, dev: None) -> None:
    """The SDKs retry a send on 5xx or a lost answer with the same `X-Inngest-Event-Id-Seed`."""
    register(client, py_body())
    seed = f"1796172795761,{base64.b64encode(os.urandom(10)).decode()}"
    events = [{"name": "main/event", "data": {"i": i}} for i in range(2)]
    first = send(client, events, seed=seed).json()["ids"]
    again = send(client, events, seed=seed).json()["ids"]
    assert first == again and len(set(first)) == 2 and all(ULID.match(i) for i in first)
    assert Run.objects.filter(app_id="compat-py", function_id="main-function").count() == 2
    other = send(client, events, seed=f"1796172795761,{base64.b64encode(os.urandom(10)).decode()}")
    assert set(other.json()["ids"]).isdisjoint(first)


def test_dev_mode_also_takes_no_event_key_set_and_signed_mode_does_not(client: Client, dev: None,
                                                                       settings: Any) -> None:
    assert send(client, {"name": "a/b"}, key="NO_EVENT_KEY_SET").status_code == 200
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    response = send(client, {"name": "a/b"}, key="NO_EVENT_KEY_SET")
    assert response.status_code == 401 and response.json()["status"] == 401
    assert send(client, {"name": "a/b"}).status_code == 200  # the configured key, no bearer needed


@pytest.mark.parametrize("key", ["wrong", ""])
def test_a_wrong_event_key_is_a_401(client: Client, dev: None, key: str) -> None:
    response = send(client, {"name": "a/b"}, key=key)
    assert response.status_code == 401
    assert "unknown event key" in response.json()["error"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"name": "inngest/function.finished"}, 400, "reserved"),
    ([{"name": "ok"}, {"name": "inngest/x"}], 400, "reserved"),
    ({"data": {}}, 400, "name"),
    ([], 400, "non-empty list"),
    ({"name": "a", "data": [1]}, 400, "'data' must be an object"),
    ({"name": "a", "ts": "soon"}, 400, "'ts'"),
    ({"name": "a", "data": {"x": "y" * 600_000}}, 413, "larger than"),
])
def test_bad_events_are_a_4xx_with_a_json_reason_and_store_nothing(
        client: Client, dev: None, body: Any, status: int, reason: str) -> None:
    response = send(client, body)
    assert response.status_code == status, response.content
    assert response.json()["status"] == status and reason in response.json()["error"]
    assert Event.objects.count() == 0


def test_idempotency_starts_one_run_per_key(client: Client, dev: None) -> None:
    """`idempotency: "event.data.userId"` is a rate limit of 1 per 24 h per key: the second event of a user
    starts no run (its run is stored as skipped), another user's does."""
    function = {**JS_BODY["functions"][0], "idempotency": "event.data.userId"}  # type: ignore[dict-item]
    assert register(client, {**JS_BODY, "functions": [function]}, sdk="inngest-js:v4.24.0").status_code == 200
    ids = [send(client, {"name": "main/event", "data": {"userId": user}}).json()["ids"][0] for user in (1, 1, 2)]
    statuses = [Run.objects.get(event_id=event_id).status for event_id in ids]
    assert statuses == [RunStatus.QUEUED, RunStatus.SKIPPED, RunStatus.QUEUED]
    assert (Run.objects.get(event_id=ids[1]).status_reason or "").startswith("rate limited")


def test_events_share_the_intake_rate_limit(client: Client, dev: None, settings: Any) -> None:
    settings.RUNS_INTAKE_RATE = 1.0
    settings.RUNS_INTAKE_BURST = 2
    assert send(client, [{"name": "a/b"}, {"name": "a/b"}]).status_code == 200
    response = send(client, {"name": "a/b"})
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


# --- GET /v1/events/<id>/runs and /v1/runs/<id> ---------------------------------------------------------


def _event_runs(client: Client, event_id: str, auth: str | None = None) -> Any:
    return client.get(f"/v1/events/{event_id}/runs", headers={"Authorization": auth} if auth else {})


@pytest.mark.django_db(transaction=True)
def test_runs_read_back_in_inngest_words(client: Client, dev: None, worker: Any) -> None:
    sync_functions(native.functions.values())
    [done_id] = send(client, {"name": "shared/number", "data": {"n": 21}}).json()["ids"]
    [failed_id] = send(client, {"name": "native/explode"}).json()["ids"]
    done = wait_for_run(Run.objects.get(event_id=done_id).id)
    failed = wait_for_run(Run.objects.get(event_id=failed_id).id)
    [row] = _event_runs(client, done_id).json()["data"]
    assert row["run_id"] == done.id
    assert row["function_id"] == "native-inngest-tests-double"
    assert (row["status"], row["output"], row["event_id"]) == ("Completed", 42, done_id)
    assert row["run_started_at"].endswith("Z") and row["ended_at"].endswith("Z")
    data = client.get(f"/v1/runs/{failed.id}").json()["data"]
    assert data["status"] == "Failed" and data["output"]["message"] == "boom"


def test_a_queued_run_is_running_and_unknown_ids_are_404_json(client: Client, dev: None) -> None:
    register(client, py_body())
    [event_id] = send(client, {"name": "main/event"}).json()["ids"]
    [row] = _event_runs(client, event_id).json()["data"]
    assert (row["function_id"], row["status"], row["output"], row["ended_at"]) == (
        "compat-py-main-function", "Running", None, None)
    for path in ("/v1/events/nope/runs", "/v1/runs/nope"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["status"] == 404


def test_signed_mode_reads_need_the_sdk_bearer(client: Client, signed: None) -> None:
    [event_id] = send(client, {"name": "a/b"}).json()["ids"]
    assert _event_runs(client, event_id).status_code == 401
    assert client.get("/v1/runs/nope").status_code == 401
    bearer = f"Bearer {signing.bearer_digest(KEY)}"
    assert _event_runs(client, event_id, bearer).json() == {"data": []}
    assert client.get("/v1/runs/nope", headers={"Authorization": bearer}).status_code == 404


def test_a_key_that_is_not_a_signing_key_is_a_503_not_a_500(client: Client, settings: Any, db: None) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = "not-hex"
    response = register(client, py_body(), auth="Bearer x")
    assert response.status_code == 503 and "not a valid signing key" in response.json()["error"]


def test_the_register_body_is_not_changed_by_the_view(client: Client, dev: None) -> None:
    body = py_body()
    before = copy.deepcopy(body)
    register(client, body)
    assert Function.objects.get(app_id="compat-py", function_id="main-function").config["inngest"] == before["functions"][1]


def test_a_registration_may_be_larger_than_an_event_batch_but_not_than_the_server_limit(
        client: Client, dev: None) -> None:
    big = {**JS_BODY, "featureObservations": {"pad": "x" * 600_000}}
    assert register(client, big, sdk="inngest-js:v4.24.0").status_code == 200
    huge = {**JS_BODY, "featureObservations": {"pad": "x" * 3_000_000}}
    response = register(client, huge, sdk="inngest-js:v4.24.0")
    assert response.status_code == 413 and response.json()["status"] == 413
