"""Property-based fuzzing of every HTTP endpoint's input (hypothesis): events, filters, cursors, ids, bodies,
actions and forms. Whatever comes in: never a 5xx, never a hang, and a refused write stores nothing.

Derandomized (the same examples on every run, no example database) so CI sees what a developer sees; a few
hundred requests per database. Not fuzzed: /admin/ (Django's own) and /accounts/logout/ (ends the session).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runs import client
from runs.models import Event, OperatorAction, Run
from runs.sdk import App, Context
from runs.store.functions import sync_functions

app = App("it-http-fuzz")
KEY = "fuzz-event-key"
NAME = "fuzz/go"
SLOW_REQUEST = 10.0  # seconds; far above any honest request here, far below a hang


@app.function(id="fuzzed", trigger=NAME, retries=0)
async def fuzzed(ctx: Context) -> None:
    return None


FUZZ = settings(max_examples=int(__import__("os").environ.get("RUNS_FUZZ_EXAMPLES", "120")), deadline=None,
                derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# --- strategies ---------------------------------------------------------------------------------------------

TRICKY = ["", " ", "\x00", "a\x00b", "²", "١٢", "-1", "0", "1", "50", "500", "501", "9" * 30, "x" * 250, "1h",
          "7d", "0s", "99999w", "queued", "failed", "true", "<script>alert(1)</script>", "a/b", "../..", "%00",
          "🙂", "' OR 1=1 --", "inngest/function.finished", NAME]
LONE_SURROGATE = "\ud800"
# Text a URL or a form can carry (a lone surrogate cannot be percent-encoded as UTF-8)...
url_text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40))
# ...and text a JSON body can carry (json.dumps escapes a lone surrogate as \ud800; the server parses it back).
json_text = st.one_of(url_text, st.just(LONE_SURROGATE), st.text(st.characters(exclude_categories=()), max_size=20))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True), json_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(json_text, inner, max_size=4)),
                           max_leaves=12)


def deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


deep_json = st.integers(min_value=60, max_value=3000).map(lambda n: json.loads(deep(n)) if n < 900 else deep(n))
moments = st.one_of(st.sampled_from(["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00",
                                     "2024-02-30T00:00:00+00:00", "2024-01-01T00:00:00", "2024-01-01T00:00:00+00:00",
                                     "2024-01-01T00:00:00+23:59", "nonsense"]),
                    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))


def forged_cursor(at: Any, row_id: Any) -> str:
    raw = json.dumps([at, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


cursors = st.one_of(url_text, st.builds(forged_cursor, moments, json_text),
                    st.builds(forged_cursor, json_values, json_values),
                    st.integers(1, 5000).map(lambda n: base64.urlsafe_b64encode(b"[" * n).decode()))
events = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from([NAME, "fuzz/nobody", "inngest/x"]), json_text, json_values),
    "data": st.one_of(json_values, deep_json), "user": st.one_of(json_values, deep_json),
    "id": st.one_of(json_text, st.integers(), st.sampled_from(["fuzz-evt-0", "fuzz-evt-1"])),
    "ts": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(), json_text)})


def body_of(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):  # an already serialised (deep) document
        return value.encode()
    return json.dumps(value, allow_nan=True).encode()


event_bodies = st.one_of(
    events, st.lists(events, min_size=0, max_size=25), json_values, deep_json,
    st.binary(max_size=200), st.sampled_from([b"", b"   ", b"\xff\xfe", b"{\"name\": \"fuzz/go\", \"data\": NaN}",
                                              b"[" * 100_000, b"1e999", b"{\"name\": \"a\\u0000\"}"]),
)

# --- the world the requests run against ---------------------------------------------------------------------


class World:
    def __init__(self, session: Client, run_ids: list[str], event_ids: list[str]) -> None:
        self.session = session
        self.run_ids = run_ids
        self.event_ids = event_ids


@pytest.fixture
def world(db: None, settings: Any) -> World:
    settings.RUNS_EVENT_KEY = KEY
    # A failed login hashes the password (PBKDF2, ~0.5 s) even for unknown users: a fast hasher for the fuzz.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RUNS_INTAKE_MAX_EVENTS = 20  # small, so the cap is reached by generated lists (25 at most)
    settings.RUNS_INTAKE_RATE = 1_000_000  # generous: the fuzz should reach intake, not the 429
    settings.RUNS_INTAKE_BURST = 1_000_000
    sync_functions(app.functions.values())
    event_ids = client.send_many([{"name": NAME, "id": f"fuzz-evt-{n}", "data": {"n": n}} for n in range(3)])
    run_ids = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
    user = User.objects.create_user("fuzzer")
    user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    session = Client()  # CSRF is not enforced by the test client: the fuzz reaches the views behind it
    session.force_login(user)
    return World(session, run_ids, event_ids)


def snapshot() -> tuple[int, int, list[tuple[str, str, int]]]:
    runs = sorted(Run.objects.values_list("id", "status", "version"))
    return Event.objects.count(), Run.objects.count(), runs


def timed(request: Any) -> Any:
    started = time.monotonic()
    response = request()
    took = time.monotonic() - started
    assert took < SLOW_REQUEST, f"request took {took:.1f} s"
    assert response.status_code < 500, (response.status_code, response.content[:500])
    return response


def check_json_reason(response: Any) -> None:
    if 400 <= response.status_code < 500 and response["Content-Type"] == "application/json":
        assert isinstance(response.json().get("error"), str)


# --- properties ---------------------------------------------------------------------------------------------


@FUZZ
@given(body=event_bodies, key=st.one_of(st.just(KEY), st.just(KEY), url_text.filter(lambda k: k.isascii())),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
def test_event_intake_never_500s_and_a_refused_post_stores_nothing(world: World, body: Any, key: str,
                                                                   content_type: str) -> None:
    before = snapshot()
    response = timed(lambda: Client().post("/api/events", data=body_of(body), content_type=content_type,
                                           headers={"Authorization": f"Bearer {key}".strip()}))
    assert response["Content-Type"] == "application/json"
    if response.status_code == 200:
        ids = response.json()["ids"]
        assert Event.objects.filter(id__in=ids).count() == len(set(ids))
        # What was stored can be shown: the events API and page answer (data nested 500 deep once made them 500).
        timed(lambda: world.session.get("/api/events", {"limit": "5"}))
        timed(lambda: world.session.get("/events/"))
    else:
        check_json_reason(response)
        assert snapshot() == before, "a refused events POST wrote something"


READS = {
    "/api/runs": ("status", "app", "function", "since", "root_only", "q", "cursor", "limit", "data", "from", "to",
                  "page_size"),
    "/api/events": ("cursor", "limit", "name"),
    "/api/functions": ("since",),
    "/runs/": ("status", "app", "function", "since", "root_only", "q", "cursor", "data", "from", "to", "page_size"),
    "/events/": ("cursor",),
    "/functions/": (),
    "/apps/": (),
    "/audit/": ("user", "action", "outcome", "run", "before"),
    "/": (),
    "/api/incidents": ("limit",),
    "/incidents/": (),
    "/api/metrics": ("window", "function"),
    "/metrics/": ("window", "function"),
    "/metrics": (),
}


@FUZZ
@given(data=st.data(), url=st.sampled_from(sorted(READS)))
def test_reads_with_any_query_never_500(world: World, data: st.DataObject, url: str) -> None:
    names = READS[url]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True), label="params") if names else []
    query: dict[str, str] = {}
    for name in chosen:
        value = data.draw(cursors if name == "cursor" else url_text, label=name)
        query[name] = value
    if "q" in query and data.draw(st.booleans(), label="q is a real id"):
        query["q"] = data.draw(st.sampled_from(world.run_ids + world.event_ids))
    before = snapshot()
    response = timed(lambda: world.session.get(url, query))
    check_json_reason(response)
    assert snapshot() == before, "a read wrote something"


@FUZZ
@given(data=st.data(), method=st.sampled_from(["get", "get", "post", "put", "delete", "patch"]),
       template=st.sampled_from(["/api/runs/{}", "/api/runs/{}/graph", "/api/events/{}/runs", "/runs/{}/",
                                 "/api/runs/{}/cancel", "/api/runs/{}/retry", "/api/incidents/{}",
                                 "/api/incidents/{}/retry", "/api/incidents/{}/cancel", "/incidents/{}/"]))
def test_any_path_id_and_action_body_never_500s(world: World, data: st.DataObject, method: str,
                                                template: str) -> None:
    if data.draw(st.booleans(), label="a real id"):
        target = data.draw(st.sampled_from(world.run_ids + world.event_ids), label="id")
    else:
        target = data.draw(url_text.filter(lambda t: t.strip() not in ("", ".", "..")), label="id")
    url = template.format(quote(target, safe=""))
    query = {"focus": data.draw(url_text, label="focus")} if template.endswith("graph") else {}
    body = data.draw(st.one_of(st.fixed_dictionaries({}, optional={
        "cascade": st.one_of(st.booleans(), json_values), "dry_run": st.one_of(st.booleans(), json_values),
        "mode": st.one_of(st.sampled_from(["from_failure", "from_start", "root_cause"]), json_text)}),
        json_values, st.binary(max_size=50)), label="body")
    before = snapshot()
    if method == "get":
        response = timed(lambda: world.session.get(url, query))
    else:
        response = timed(lambda: getattr(world.session, method)(url, data=body_of(body),
                                                                content_type="application/json"))
    check_json_reason(response)
    if response.status_code >= 400:
        assert snapshot() == before, "a refused request changed runs or events"
    # Whatever the audit trail now holds (refusals on odd ids included), the Audit page renders.
    timed(lambda: world.session.get("/audit/"))


bulk_filters = st.dictionaries(
    st.one_of(st.sampled_from(["function", "function_id", "app", "app_id", "status", "since", "until",
                               "root_run_id", "root_only"]), json_text),
    st.one_of(json_values, moments, st.sampled_from(["it-http-fuzz", "fuzzed", "queued", "failed"])), max_size=4)


@FUZZ
@given(body=st.one_of(st.fixed_dictionaries({}, optional={
    "action": st.one_of(st.sampled_from(["cancel", "retry"]), json_values),
    "filters": st.one_of(bulk_filters, json_values), "dry_run": st.one_of(st.booleans(), json_values)}),
    json_values, st.binary(max_size=50)))
def test_bulk_actions_with_any_body_never_500(world: World, body: Any) -> None:
    before = snapshot()
    response = timed(lambda: world.session.post("/api/runs/bulk", data=body_of(body),
                                                content_type="application/json"))
    check_json_reason(response)
    if response.status_code >= 400:
        assert snapshot() == before, "a refused bulk action changed runs"
    assert not OperatorAction.objects.filter(outcome="running").exists()  # none left running
    timed(lambda: world.session.get("/audit/"))


@FUZZ
@given(name=url_text, data=st.one_of(url_text, json_values.map(lambda v: json.dumps(v, allow_nan=True)),
                                     deep_json.map(lambda v: v if isinstance(v, str) else json.dumps(v))),
       username=url_text, password=url_text)
def test_forms_never_500_and_a_refused_event_is_not_stored(world: World, name: str, data: str, username: str,
                                                           password: str) -> None:
    before = Event.objects.count()
    response = timed(lambda: world.session.post("/events/send", {"name": name, "data": data}))
    if response.status_code != 302:
        assert response.status_code == 400 and Event.objects.count() == before
        assert "Not sent" in response.content.decode()
    timed(lambda: Client().post("/accounts/login/", {"username": username, "password": password}))


# --- the Inngest SDK endpoints (dev mode: they accept unauthenticated requests, so the fuzz reaches the views) ---

functions_configs = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.just("fuzz-sdk-fn"), json_text, json_values), "name": json_text,
    "triggers": st.one_of(json_values, st.lists(st.fixed_dictionaries({}, optional={
        "event": json_text, "cron": json_text, "expression": st.one_of(json_text, st.just("event.data.x ==="))}))),
    "steps": st.one_of(json_values, st.just({"step": {"id": "step", "name": "step", "runtime": {
        "type": "http", "url": "http://127.0.0.1:9/api/inngest?fnId=fuzz-sdk-fn&stepId=step"}}})),
    "concurrency": json_values, "rateLimit": json_values, "debounce": json_values, "cancel": json_values,
    "throttle": json_values, "retries": json_values})
SDK_ORIGIN = "http://127.0.0.1:9"


@st.composite
def valid_shaped_registrations(draw: st.DrawFn) -> dict[str, Any]:
    """A body every early check accepts (`deployType` "ping", a known SDK, ids prefixed by the app id, call URLs
    on the app's origin), with fuzzed text inside: it reaches the database, where a string no column can hold
    (a lone surrogate) once made a 500."""
    app_id = draw(st.one_of(st.just("fuzz-sdk"), json_text.filter(str.strip)), label="app id")

    def function() -> dict[str, Any]:
        fn_id = draw(st.one_of(st.just("fn"), json_text.filter(bool)), label="function id")
        return {"id": f"{app_id}-{fn_id}", "name": draw(json_text, label="function name"),
                "triggers": [{"event": draw(st.one_of(st.just("fuzz/sdk"), json_text), label="trigger")}],
                "steps": {"step": {"id": "step", "name": "step", "runtime": {
                    "type": "http", "url": f"{SDK_ORIGIN}/api/inngest?fnId={draw(json_text, label='fnId')}"}}}}

    return {"url": SDK_ORIGIN + draw(st.one_of(st.just("/api/inngest"), json_text.map(lambda t: "/" + t)), label="path"),
            "deployType": "ping", "appName": app_id, "sdk": "js:v4.24.0",
            "framework": draw(json_text, label="framework"),
            "functions": [function() for _ in range(draw(st.integers(0, 2), label="functions"))]}


registrations = st.one_of(json_values, deep_json, st.binary(max_size=200), valid_shaped_registrations(),
                          valid_shaped_registrations(), st.fixed_dictionaries(
    {"url": st.one_of(st.just("http://127.0.0.1:9/api/inngest"), json_text)},
    optional={"appName": st.one_of(st.just("fuzz-sdk"), json_text, json_values), "appname": json_text,
              "deployType": json_text, "deploy_type": json_text, "sdk": json_values, "framework": json_values,
              "functions": st.one_of(json_values, st.lists(functions_configs, max_size=3))}))


@FUZZ
@given(body=registrations, path=st.sampled_from(["/fn/register", "/fn/register?deployId=x"]),
       auth=st.sampled_from(["", "Bearer undefined", "Bearer " + "0" * 64]))
def test_sdk_registration_never_500s_and_a_refused_one_stores_nothing(world: World, settings: Any, body: Any,
                                                                       path: str, auth: str) -> None:
    from runs.models import Function, SdkApp

    settings.RUNS_INNGEST_DEV = True
    before = (SdkApp.objects.count(), Function.objects.count())
    headers = {"Authorization": auth} if auth else {}
    response = timed(lambda: Client().post(path, data=body_of(body), content_type="application/json",
                                           headers=headers))
    assert response["Content-Type"] == "application/json"
    if response.status_code != 200:
        check_json_reason(response)
        assert (SdkApp.objects.count(), Function.objects.count()) == before, "a refused registration wrote"
    else:  # what was stored can be shown
        timed(lambda: world.session.get("/apps/"))


@FUZZ
@given(body=event_bodies, key=st.one_of(st.just(KEY), st.just("NO_EVENT_KEY_SET"),
                                         url_text.filter(lambda k: k.isascii() and "/" not in k and k.strip())))
def test_sdk_event_intake_never_500s_and_a_refused_post_stores_nothing(world: World, settings: Any, body: Any,
                                                                       key: str) -> None:
    settings.RUNS_INNGEST_DEV = True
    before = snapshot()
    response = timed(lambda: Client().post(f"/e/{quote(key)}", data=body_of(body), content_type="application/json"))
    assert response["Content-Type"] == "application/json"
    if response.status_code != 200:
        check_json_reason(response)
        assert snapshot() == before, "a refused /e/ POST wrote something"


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["run", "event"]))
def test_sdk_rest_reads_never_500(world: World, settings: Any, data: st.DataObject, kind: str) -> None:
    settings.RUNS_INNGEST_DEV = True
    known = world.run_ids if kind == "run" else world.event_ids
    ident = data.draw(st.one_of(st.sampled_from(known), url_text.filter(lambda t: t.isascii() and t.strip())))
    path = f"/v1/runs/{quote(ident, safe='')}" if kind == "run" else f"/v1/events/{quote(ident, safe='')}/runs"
    response = timed(lambda: Client().get(path))
    assert response.status_code in (200, 400, 404), (response.status_code, response.content[:300])
    assert "data" in response.json() or "error" in response.json()
