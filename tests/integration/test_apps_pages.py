"""Inngest SDK apps in the dashboard (issue 10): the Apps page (apps, their functions, options not enforced, native
apps), Sync now and Add app by URL (operator permission, CSRF, audited, the sync's result as a message), the
runtime on the Functions page, the runs list and the run page (one query per page), and SDK steps shown by their
display names with the hash on hover and copy (pages and the JSON API)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from runs import inngest_sync
from runs.inngest_sync import SyncResult
from runs.models import Function, OperatorAction, Run, SdkApp
from runs.status import ActionOutcome, OperatorActionName
from tests.benchmarks.trees import run_row
from tests.helpers import inngest_mode
from tests.integration.sdk_app_rows import (
    FAILED_STEP,
    FETCH_STEP,
    INVOKE_STEP,
    JS_APP,
    LEAF_MESSAGE,
    NATIVE_APP,
    PY_APP,
    SYNC_ERROR,
    SdkRows,
    create_sdk_rows,
)

pytestmark = pytest.mark.django_db


def login(allowed: bool, *, csrf: bool = False) -> Client:
    user = User.objects.create_user("op" if allowed else "viewer", password="pw")
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    http = Client(enforce_csrf_checks=csrf)
    http.force_login(user)
    return http


@pytest.fixture
def rows() -> SdkRows:
    return create_sdk_rows()


class FakeSync(list[str]):
    """Stands in for runs.inngest_sync.sync_app: records the URLs it was asked to sync (it is the list of them)
    and answers `result`."""

    def __init__(self) -> None:
        super().__init__()
        self.result = SyncResult(ok=True, app_id=PY_APP, kind="in_band", error=None, functions=3)

    def __call__(self, url: str) -> SyncResult:
        self.append(url)
        return self.result


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> FakeSync:
    fake = FakeSync()
    monkeypatch.setattr(inngest_sync, "sync_app", fake)
    return fake


def card(page: str, app_id: str) -> str:
    found = re.search(rf'<article class="panel app-card[^"]*"[^>]*data-app-id="{re.escape(app_id)}">(.*?)</article>',
                      page, re.S)
    assert found, f"no card for {app_id}"
    return found.group(1)


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace("\xa0", " ")


# --- the Apps page ----------------------------------------------------------------------------------------------


def test_apps_page_shows_each_sdk_app_with_its_functions_and_what_is_not_enforced(rows: SdkRows) -> None:
    page = login(False).get("/apps/").content.decode()
    assert 'href="/apps/" aria-current="page">Apps</a>' in page  # the nav link
    py = card(page, PY_APP)
    assert "http://127.0.0.1:8123/api/inngest" in py and "inngest-py 0.5.19" in py and "django" in py
    assert 'class="runtime rt-inngest-py"' in py
    sync = re.search(r'<dd class="app-sync">(.*?)</dd>', py, re.S)
    assert sync and "3 minutes ago" in text(sync.group(1)) and "in-band" in sync.group(1)
    assert 'title="20' in sync.group(1) and " UTC" in sync.group(1)  # the absolute time on hover
    assert '<span class="sync-ok">ok</span>' in sync.group(1)
    # Its function: id, readable name, every trigger, retries, flow control, and each unenforced option flagged.
    checkout = text(py)
    assert "checkout" in checkout and "Checkout" in checkout
    assert "shop/checkout" in checkout and "shop/retry-checkout" in checkout and "cron 0 * * * *" in checkout
    retries = re.search(r'<td class="num">(\d+)</td>', py)
    assert retries and retries.group(1) == "2" and "concurrency 2 per event.data.user" in checkout
    flags = [text(flag).strip() for flag in re.findall(r'<span class="not-enforced"[^>]*>(.*?)</span>', py, re.S)]
    assert flags == ["⚠ throttle: not enforced", "⚠ event trigger 'shop/retry-checkout': not enforced",
                     "⚠ cron trigger '0 * * * *': not enforced"]

    js = card(page, JS_APP)
    assert "inngest-js 3.54.2" in js and "express" in js and "out-of-band" in js
    assert "2 hours ago" in text(js)
    error = re.search(r'<span class="sync-error">(.*?)</span>', js, re.S)
    assert error and html.unescape(error.group(1)) == SYNC_ERROR and "<b>" not in error.group(1)  # escaped
    assert "rate limit 10 / 1.0 min" in text(js) and "⚠ batchEvents: not enforced" in text(js)
    assert "invoke only" in js

    native_section = page.split("Native apps", 1)[1]
    native = card(native_section, NATIVE_APP)
    assert "Python native" in native and "resize" in native and "img/uploaded" in native
    assert '<td class="num">3</td>' in native
    assert NATIVE_APP not in page.split("Native apps", 1)[0]  # not listed among the SDK apps


def test_apps_page_offers_actions_only_to_operators(rows: SdkRows) -> None:
    viewer = login(False).get("/apps/").content.decode()
    assert "Sync now" not in viewer and "add-app-form" not in viewer
    operator = login(True).get("/apps/").content.decode()
    assert operator.count("Sync now") == 2 and 'id="add-app-form"' in operator
    assert 'name="csrfmiddlewaretoken"' in operator


def test_apps_page_needs_a_login(client: Client) -> None:
    response = client.get("/apps/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_empty_apps_page_says_how_to_add_one() -> None:
    page = login(True).get("/apps/").content.decode()
    assert "No Inngest SDK apps yet" in page and "No native functions registered" in page


def test_the_apps_page_is_two_queries_whatever_the_number_of_apps(rows: SdkRows) -> None:
    http = login(False)
    with CaptureQueriesContext(connection) as few:
        http.get("/apps/")
    for n in range(8):
        create_more = {"app_id": f"extra-{n}", "function_id": f"fn-{n}", "config": {"runtime": "inngest-py"}}
        Function.objects.create(**create_more)
        Function.objects.create(app_id=f"native-{n}", function_id=f"fn-{n}", config={"retries": 1})
    with CaptureQueriesContext(connection) as many:
        page = http.get("/apps/").content.decode()
    assert len(many) == len(few)
    assert "extra-7" in card(page, "extra-7")  # an SDK function whose app row is gone is still listed


# --- Sync now and Add app by URL -------------------------------------------------------------------------------


def test_sync_now_syncs_the_apps_url_audits_it_and_says_how_it_went(rows: SdkRows, calls: FakeSync) -> None:
    http = login(True)
    response = http.post("/apps/sync", {"app_id": PY_APP}, follow=True)
    assert response.status_code == 200 and calls == ["http://127.0.0.1:8123/api/inngest"]
    page = response.content.decode()
    assert '<li class="success">Synced py-shop (in-band): 3 functions.</li>' in page
    entry = OperatorAction.objects.get()
    assert (entry.action, entry.outcome, entry.username) == (OperatorActionName.SYNC_APP, ActionOutcome.DONE, "op")
    assert "py-shop" in entry.detail
    assert "Sync app" in http.get("/audit/").content.decode()

    calls.result = SyncResult(ok=False, app_id=None, kind="", error="HTTP 401: bad signature", functions=0)
    page = http.post("/apps/sync", {"app_id": JS_APP}, follow=True).content.decode()
    assert "Sync failed: http://127.0.0.1:3999/api/inngest: HTTP 401: bad signature" in page
    assert '<li class="error">' in page
    assert OperatorAction.objects.order_by("-id")[0].outcome == ActionOutcome.FAILED


def test_sync_now_of_an_unknown_app_is_a_404_with_the_reason(rows: SdkRows, calls: FakeSync) -> None:
    response = login(True).post("/apps/sync", {"app_id": "no-such-app"})
    assert response.status_code == 404 and "Not synced: no SDK app &#x27;no-such-app&#x27;" in response.content.decode()
    assert calls == [] and OperatorAction.objects.get().outcome == ActionOutcome.REFUSED
    assert login_again_status("/apps/sync", {"app_id": "a\x00b"}) == 404


def login_again_status(url: str, data: dict[str, str]) -> int:
    http = Client()
    http.force_login(User.objects.get(username="op"))
    return http.post(url, data).status_code


def test_add_app_by_url_validates_the_url_then_syncs_it(rows: SdkRows, calls: FakeSync) -> None:
    http = login(True)
    for bad in ("", "ftp://example.com/api/inngest", "not a url", "javascript:alert(1)", "http://" + "a" * 2100,
                "http://", "http:///api/inngest", "http://app:99999/api/inngest", "http://[::1/api",
                "http://user:secret@app:3000/api/inngest", "http://token@app/api/inngest", "http://exa<mple/"):
        response = http.post("/apps/add", {"url": bad})
        assert response.status_code == 400, bad
        assert "Not added:" in response.content.decode() and "http or https URL" in response.content.decode()
    assert "no user name or password" in http.post("/apps/add", {"url": "http://u:p@app/"}).content.decode()
    assert calls == []
    assert list(OperatorAction.objects.values_list("action", "outcome").distinct()) == [
        (OperatorActionName.ADD_APP, ActionOutcome.REFUSED)]

    calls.result = SyncResult(ok=True, app_id="new-app", kind="out_of_band", error=None, functions=1)
    page = http.post("/apps/add", {"url": "https://apps.example.com/api/inngest"}, follow=True).content.decode()
    assert calls == ["https://apps.example.com/api/inngest"]
    assert "Synced new-app (out-of-band): 1 function." in page
    assert OperatorAction.objects.order_by("-id")[0].outcome == ActionOutcome.DONE

    # Any host an http(s) URL can name: a docker-compose service name (one label), IPv6, an explicit port.
    for good in ("http://app:3000/api/inngest", "http://worker/api/inngest", "http://[::1]:3000/api/inngest"):
        http.post("/apps/add", {"url": good})
    assert calls[1:] == ["http://app:3000/api/inngest", "http://worker/api/inngest", "http://[::1]:3000/api/inngest"]


def test_a_sync_that_raises_is_a_failure_message_not_a_500(rows: SdkRows, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: str) -> SyncResult:
        raise RuntimeError("the app closed the connection")

    monkeypatch.setattr(inngest_sync, "sync_app", broken)
    page = login(True).post("/apps/add", {"url": "http://127.0.0.1:1/x"}, follow=True).content.decode()
    assert "Sync failed: http://127.0.0.1:1/x: RuntimeError: the app closed the connection" in page


def test_sync_and_add_need_the_permission_and_csrf(rows: SdkRows, calls: FakeSync) -> None:
    viewer = login(False)
    assert viewer.post("/apps/sync", {"app_id": PY_APP}).status_code == 403
    assert viewer.post("/apps/add", {"url": "http://127.0.0.1:9/"}).status_code == 403
    assert viewer.get("/apps/sync").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    operator = User.objects.create_user("strict-op", password="pw")
    operator.user_permissions.add(Permission.objects.get(codename="operate_run"))
    strict.force_login(operator)
    assert strict.post("/apps/sync", {"app_id": PY_APP}).status_code == 403  # no CSRF token
    assert strict.post("/apps/add", {"url": "http://127.0.0.1:9/"}).status_code == 403
    assert calls == [] and not OperatorAction.objects.exists()
    strict.get("/apps/")
    token = strict.cookies["csrftoken"].value
    response = strict.post("/apps/sync", {"app_id": PY_APP, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and calls == ["http://127.0.0.1:8123/api/inngest"]


# --- what SDK registrations show on the page -----------------------------------------------------------------

APP_URL = "http://127.0.0.1:8792/api/inngest"


def js_body(app_id: str, *, name: str = "Main", url: str = APP_URL, **fields: Any) -> dict[str, Any]:
    """An inngest-js registration body (protocol document section 3) of one function `main`."""
    return {"url": url, "deployType": "ping", "framework": "express", "appName": app_id, "sdk": "js:v4.24.0",
            "functions": [{"id": f"{app_id}-main", "name": name, "triggers": [{"event": "main/event"}],
                           "steps": {"step": {"id": "step", "name": "step", "runtime": {
                               "type": "http", "url": f"{url}?fnId={app_id}-main&stepId=step"}}}, **fields}]}


@pytest.fixture
def dev_mode(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    inngest_mode(settings, monkeypatch, dev=True)


def post_register(body: dict[str, Any]) -> Any:
    return Client().post("/fn/register", data=json.dumps(body), content_type="application/json",
                         headers={"X-Inngest-SDK": "inngest-js:v4.24.0"})


def apps_page() -> str:
    http = Client()
    http.force_login(User.objects.get_or_create(username="reader")[0])
    return http.get("/apps/").content.decode()


def sync_cell(app_id: str) -> str:
    found = re.search(r'<dd class="app-sync">(.*?)</dd>', card(apps_page(), app_id), re.S)
    assert found
    return found.group(1)


def test_a_refused_registration_of_a_known_app_is_its_last_sync(dev_mode: None) -> None:
    assert post_register(js_body("js-app")).status_code == 200
    assert '<span class="sync-ok">ok</span>' in sync_cell("js-app")
    broken = post_register(js_body("js-app", debounce={"period": "soon"}))
    assert broken.status_code == 400
    cell = sync_cell("js-app")
    assert "sync-ok" not in cell
    assert text(cell).split("out-of-band", 1)[1].strip().startswith(
        "registration refused: function 'js-app-main': debounce.period: 'soon' is not a duration")
    assert Function.objects.get(app_id="js-app").config["debounce"] is None  # the stored functions are unchanged

    # A body without a usable app id still names the app by its URL.
    assert post_register(js_body("js-app")).status_code == 200
    assert post_register({**js_body("js-app"), "appName": ""}).status_code == 400
    assert "'appName' (or 'appname')" in text(sync_cell("js-app"))
    # An app never seen before has no row to note it on: nothing is created.
    assert post_register(js_body("unknown", url="http://127.0.0.1:1/x", debounce={"period": "soon"})).status_code == 400
    assert not SdkApp.objects.filter(app_id="unknown").exists()


def test_app_supplied_strings_are_escaped_on_the_apps_page(dev_mode: None) -> None:
    tag = "<script>alert(1)</script>"
    url = "http://127.0.0.1:8792/api/inngest/<script>alert(1)</script>"
    body = js_body("xss-app", name=f"Main {tag}", url=url)
    body["framework"], body["sdk"] = f"express{tag}", f"js:v4.24.0{tag}"
    body["functions"][0]["triggers"] = [{"event": f"main/{tag}", "expression": f"event.data.x == '{tag}'"}]
    assert post_register(body).status_code == 200, post_register(body).content
    page = apps_page()
    app = card(page, "xss-app")
    assert "<script>" not in page
    escaped = html.escape(tag)
    assert f"Main {escaped}" in app  # the function's name
    assert f'<code class="copy app-url" title="click to copy">{html.escape(url)}</code>' in app
    assert f"express{escaped}" in app and f"inngest-js 4.24.0{escaped}" in app
    assert f"main/{escaped} if event.data.x == &#x27;{escaped}&#x27;" in app  # the trigger and its expression

    # A refused registration's reason, which quotes what the app sent, is escaped too.
    assert post_register({**body, "functions": [{**body["functions"][0], "id": f"xss-app-{tag}",
                                                  "debounce": {"period": tag}}]}).status_code == 400
    page = apps_page()
    assert "<script>" not in page and "registration refused" in card(page, "xss-app")


# --- the runtime wherever functions are shown -----------------------------------------------------------------


def test_functions_page_has_a_runtime_column_and_says_what_is_not_enforced(rows: SdkRows) -> None:
    page = login(False).get("/functions/").content.decode()
    assert "<th>runtime</th>" in page
    runtimes = dict(re.findall(r'<b>([^<]+)</b></a></td>\s*<td>[^<]*</td>\s*<td class="runtime-cell"><span[^>]*>([^<]+)</span>',
                               page))
    assert runtimes == {"checkout": "inngest-py", "send-receipt": "inngest-js", "resize": "Python native"}
    assert "⚠ throttle: not enforced" in page and "⚠ batchEvents: not enforced" in page
    assert "concurrency 2 per event.data.user" in page
    assert "?fnId=" not in page  # the raw SDK config (URLs, the registered JSON) is not dumped into the page
    body = login_json("/api/functions")
    assert {f["function_id"]: f["runtime"] for f in body["functions"]} == {
        "checkout": "inngest-py", "send-receipt": "inngest-js", "resize": "python"}


def login_json(url: str) -> Any:
    http = Client()
    http.force_login(User.objects.get_or_create(username="reader")[0])
    response = http.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def test_runs_list_shows_each_runs_runtime_in_one_query_for_the_page(rows: SdkRows) -> None:
    http = login(False)
    page = http.get("/runs/?root_only=0").content.decode()
    parent_row = re.search(rf'<tr data-run-id="{rows.parent_run_id}".*?</tr>', page, re.S)
    child_row = re.search(rf'<tr data-run-id="{rows.child_run_id}".*?</tr>', page, re.S)
    assert parent_row and 'class="runtime rt-inngest-py"' in parent_row.group(0)
    assert child_row and 'class="runtime rt-inngest-js"' in child_row.group(0)
    api = {run["id"]: run["runtime"] for run in login_json("/api/runs")["runs"]}
    assert api == {rows.parent_run_id: "inngest-py", rows.child_run_id: "inngest-js"}

    with CaptureQueriesContext(connection) as few:
        http.get("/runs/?root_only=0")
    Run.objects.bulk_create([run_row(f"more{n}", app_id=NATIVE_APP if n % 2 else PY_APP,
                                     function_id="resize" if n % 2 else "checkout") for n in range(30)])
    with CaptureQueriesContext(connection) as many:
        page = http.get("/runs/?root_only=0").content.decode()
    assert len(many) == len(few)
    assert page.count("Python native") == 15 and page.count('class="runtime rt-inngest-py"') == 16


def test_run_page_header_names_the_runtime(rows: SdkRows) -> None:
    http = login(False)
    head = http.get(f"/runs/{rows.child_run_id}/").content.decode().split('<div class="run-grid', 1)[0]
    assert 'class="runtime rt-inngest-js"' in head and "inngest-js" in head
    native = Run.objects.create(**{f.attname: getattr(run_row("nativerun1", app_id=NATIVE_APP, function_id="resize"),
                                                      f.attname) for f in Run._meta.concrete_fields})
    head = http.get(f"/runs/{native.id}/").content.decode().split('<div class="run-grid', 1)[0]
    assert "Python native" in head


# --- step display names ---------------------------------------------------------------------------------------


def test_sdk_steps_show_their_display_names_with_the_hash_on_hover_and_copy(rows: SdkRows) -> None:
    http = login(False)
    parent = http.get(f"/runs/{rows.parent_run_id}/").content.decode()
    waterfall = re.findall(r'<a class="wf-name" href="#step-\d+" title="([^"]*)">([^<]*)</a>', parent)
    assert waterfall == [(f"{FETCH_STEP} (step id {rows.fetch_hash})", FETCH_STEP),
                         (f"{INVOKE_STEP} (step id {rows.invoke_hash})", INVOKE_STEP)]
    summaries = re.findall(r"<summary><b>(.*?)</b>", parent)
    assert summaries == [f'<span class="step-name" title="step id {rows.fetch_hash}" data-step-id="{rows.fetch_hash}">'
                         f"{FETCH_STEP}</span>",
                         f'<span class="step-name" title="step id {rows.invoke_hash}" data-step-id="{rows.invoke_hash}">'
                         f"{INVOKE_STEP}</span>"]
    assert f'<code class="copy step-hash" title="click to copy">{rows.invoke_hash}</code>' in parent
    # The root cause panel names the leaf's step by its name, the hash on hover.
    cause = parent.split('id="root-cause"', 1)[1].split("</section>", 1)[0]
    assert f'<span class="step-name" title="step id {rows.failed_hash}">{FAILED_STEP}</span>' in cause
    assert LEAF_MESSAGE.replace("'", "&#x27;") in cause

    child = http.get(f"/runs/{rows.child_run_id}/").content.decode()
    invoked_by = re.search(r"<dt>invoked by</dt><dd>(.*?)</dd>", child, re.S)
    assert invoked_by and INVOKE_STEP in invoked_by.group(1) and f"step id {rows.invoke_hash}" in invoked_by.group(1)

    # The runs list's root-cause column and the JSON API.
    listing = http.get("/runs/").content.decode()
    row = re.search(rf'<tr data-run-id="{rows.parent_run_id}".*?</tr>', listing, re.S)
    assert row and f"send-receipt</b> · {FAILED_STEP}:" in row.group(0) and rows.failed_hash not in row.group(0)
    run = login_json(f"/api/runs/{rows.parent_run_id}")
    assert [(s["step_id"], s["display_name"]) for s in run["steps"]] == [(rows.fetch_hash, FETCH_STEP),
                                                                         (rows.invoke_hash, INVOKE_STEP)]
    cause_json = {r["id"]: r["root_cause"] for r in login_json("/api/runs")["runs"]}[rows.parent_run_id]
    assert (cause_json["step_id"], cause_json["step_name"]) == (rows.failed_hash, FAILED_STEP)


def test_native_steps_keep_showing_their_ids(rows: SdkRows) -> None:
    Run.objects.bulk_create([run_row("nat1", app_id=NATIVE_APP, function_id="resize")])
    from runs.models import Step
    from runs.status import StepKind, StepStatus

    Step.objects.create(run_id="nat1", step_id="shrink", kind=StepKind.RUN, status=StepStatus.COMPLETED,
                        output=1, attempts=1, started_at=Run.objects.get(id="nat1").created_at)
    page = login(False).get("/runs/nat1/").content.decode()
    assert '<a class="wf-name" href="#step-0" title="shrink">shrink</a>' in page
    assert '<summary><b><span class="step-name">shrink</span></b>' in page and "step-hash" not in page
    assert login_json("/api/runs/nat1")["steps"][0]["display_name"] == ""
