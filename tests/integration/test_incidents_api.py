"""Incidents (issue 11, item 6) over HTTP: failed roots grouped by their root cause's signature when they fail,
the contract's JSON, newest first, a dry run that lists the roots, "retry root causes" that heals them (history
kept, no longer open), "cancel all", 404s, permission and CSRF, and the backfill of an older database."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from runs import client
from runs.models import Incident, OperatorAction, Run
from runs.sdk import App, Context
from runs.status import RunStatus
from runs.store import incidents as incident_store
from runs.testing import wait_for_run
from tests.benchmarks.trees import run_row
from tests.helpers import csrf_session
from tests.helpers import operator as user

app = App("it-incidents")
FIXED = {"value": False}


def _call_api(data: dict[str, Any]) -> str:
    if not FIXED["value"]:
        raise TimeoutError(f"timeout after {data['secs']} s calling '{data['who']}' at 0x{data['secs']:x}ff")
    return "ok"


@app.function(id="inc-leaf", retries=0)
async def leaf(ctx: Context) -> str:
    result = await ctx.step.run("call-api", lambda: _call_api(ctx.event.data))
    if ctx.event.data.get("then_sleep"):
        await ctx.step.sleep("nap", "1h")
    return result


@app.function(id="inc-top", trigger="incidents/start", retries=0)
async def top(ctx: Context) -> str:
    return await ctx.step.invoke("call-leaf", function=leaf, data=ctx.event.data)


@app.function(id="inc-other", trigger="incidents/other", retries=0)
async def other(ctx: Context) -> None:
    raise ValueError(f"bad value {ctx.event.data['n']}")


@pytest.fixture(autouse=True)
def _reset() -> None:
    FIXED["value"] = False


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    return csrf_session(user(), "/incidents/")


def post(http: Client, url: str, body: object, with_csrf: bool = True):  # type: ignore[no-untyped-def]
    extra = {"HTTP_X_CSRFTOKEN": http.cookies["csrftoken"].value} if with_csrf else {}
    return http.post(url, data=json.dumps(body), content_type="application/json", **extra)


def failed_root(name: str, data: dict[str, Any]) -> str:
    [run] = client.runs_for_event(client.send(name, data))
    assert wait_for_run(run.id).status == RunStatus.FAILED
    return run.id


def wait_status(run_id: str, statuses: set[str], timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while (status := client.get_run(run_id).status) not in statuses:
        assert time.monotonic() < deadline, f"{run_id} is still {status}"
        time.sleep(0.01)
    return status


def test_failures_group_by_normalised_root_cause_newest_first(session: Client) -> None:
    roots = [failed_root("incidents/start", {"secs": secs, "who": who}) for secs, who in ((31, "a"), (12, "b"), (7, "c"))]
    other_root = failed_root("incidents/other", {"n": 3})

    listed = session.get("/api/incidents").json()["incidents"]
    assert [row["function_id"] for row in listed] == ["inc-other", "inc-leaf"]  # newest last_seen first
    assert listed[0]["last_seen"] >= listed[1]["last_seen"]
    leaf_row = listed[1]
    assert set(leaf_row) >= {"id", "function_id", "step_id", "error_type", "message", "count", "first_seen",
                             "last_seen"}
    assert (leaf_row["step_id"], leaf_row["error_type"], leaf_row["count"]) == ("call-api", "TimeoutError", 3)
    assert leaf_row["message"] == "timeout after <n> s calling '…' at <hex>"
    assert leaf_row["open"] == 3 and leaf_row["root_functions"] == ["it-incidents/inc-top"]
    assert (listed[0]["step_id"], listed[0]["error_type"], listed[0]["message"]) == (None, "ValueError", "bad value <n>")

    detail = session.get(f"/api/incidents/{leaf_row['id']}").json()
    assert sorted(detail["run_ids"]) == sorted(roots) and detail["count"] == 3
    assert session.get(f"/api/incidents/{listed[0]['id']}").json()["run_ids"] == [other_root]
    # Only roots join: the leaves and middles of the chains carry no incident.
    assert not Run.objects.filter(parent_run_id__isnull=False).exclude(incident_id=None).exists()


def test_dry_run_lists_the_roots_and_changes_nothing_then_retry_heals_them(session: Client) -> None:
    roots = [failed_root("incidents/start", {"secs": secs, "who": "x"}) for secs in (5, 6)]
    incident_id = Run.objects.get(id=roots[0]).incident_id
    preview = post(session, f"/api/incidents/{incident_id}/retry", {"dry_run": True})
    assert preview.status_code == 200, preview.content
    assert preview.json() == {"matched": 2, "run_ids": roots}  # oldest first
    assert Run.objects.filter(id__in=roots, status=RunStatus.FAILED).count() == 2
    assert not OperatorAction.objects.exists()

    FIXED["value"] = True
    applied = post(session, f"/api/incidents/{incident_id}/retry", {})
    assert applied.json() == {"matched": 2, "run_ids": roots, "done": 2}
    for root in roots:
        assert wait_for_run(root).status == RunStatus.COMPLETED
    healed = session.get(f"/api/incidents/{incident_id}").json()
    assert (healed["count"], healed["open"], healed["run_ids"]) == (2, 0, [])  # history kept, none open
    entry = OperatorAction.objects.get()
    assert (entry.action, entry.filters, entry.outcome, entry.processed) == ("bulk_retry", {"incident": incident_id},
                                                                             "done", 2)
    assert sorted(entry.run_ids) == sorted(roots)
    assert f"incident={incident_id}" in session.get("/audit/").content.decode()
    # Nothing left to retry: a preview says so.
    assert post(session, f"/api/incidents/{incident_id}/retry", {"dry_run": True}).json()["matched"] == 0


def test_a_root_that_fails_again_counts_again(session: Client) -> None:
    root = failed_root("incidents/start", {"secs": 1, "who": "x"})
    incident_id = Run.objects.get(id=root).incident_id
    assert post(session, f"/api/incidents/{incident_id}/retry", {}).json()["done"] == 1
    assert wait_for_run(root).status == RunStatus.FAILED  # still broken
    again = session.get(f"/api/incidents/{incident_id}").json()
    assert (again["count"], again["open"], again["run_ids"]) == (2, 1, [root])


def test_cancel_all_stops_the_roots_a_retry_made_active(session: Client) -> None:
    root = failed_root("incidents/start", {"secs": 2, "who": "x", "then_sleep": True})
    incident_id = Run.objects.get(id=root).incident_id
    assert post(session, f"/api/incidents/{incident_id}/cancel", {"dry_run": True}).json() == {
        "matched": 0, "run_ids": []}  # failed roots are not active: nothing to cancel
    FIXED["value"] = True
    assert post(session, f"/api/incidents/{incident_id}/retry", {}).json()["done"] == 1
    leaf_id = Run.objects.get(root_run_id=root, function_id="inc-leaf").id
    wait_status(leaf_id, {RunStatus.WAITING})  # the healed leaf sleeps an hour; its root waits on it
    assert post(session, f"/api/incidents/{incident_id}/cancel", {"dry_run": True}).json()["run_ids"] == [root]
    done = post(session, f"/api/incidents/{incident_id}/cancel", {})
    assert done.json()["done"] == 1
    assert {run.status for run in Run.objects.filter(root_run_id=root)} == {RunStatus.CANCELLED}
    assert OperatorAction.objects.filter(action="bulk_cancel", filters={"incident": incident_id}).count() == 1


def test_unknown_incident_is_a_json_404_and_bad_input_400(session: Client) -> None:
    for method, url in (("get", "/api/incidents/nope"), ("post", "/api/incidents/nope/retry"),
                        ("post", "/api/incidents/nope/cancel")):
        response = post(session, url, {}) if method == "post" else session.get(url)
        assert response.status_code == 404 and "nope" in response.json()["error"]
    assert session.get("/incidents/nope/").status_code == 404
    for odd in ("%00", "x" * 300, "a%20b"):  # no such id can exist: a JSON 4xx, not a database error
        for response in (session.get(f"/api/incidents/{odd}"), post(session, f"/api/incidents/{odd}/retry", {})):
            assert response.status_code in (400, 404) and response.json()["error"]
    root = failed_root("incidents/other", {"n": 1})
    incident_id = Run.objects.get(id=root).incident_id
    assert post(session, f"/api/incidents/{incident_id}/retry", {"dry_run": "yes"}).status_code == 400
    bad = session.post(f"/api/incidents/{incident_id}/retry", data=b"{nope", content_type="application/json",
                       HTTP_X_CSRFTOKEN=session.cookies["csrftoken"].value)
    assert bad.status_code == 400
    assert session.get("/api/incidents?limit=0").status_code == 400
    assert session.get(f"/api/incidents/{incident_id}/retry").status_code == 405


def test_permission_csrf_and_login(session: Client) -> None:
    root = failed_root("incidents/other", {"n": 2})
    incident_id = Run.objects.get(id=root).incident_id
    assert post(session, f"/api/incidents/{incident_id}/retry", {}, with_csrf=False).status_code == 403
    viewer = Client()
    viewer.force_login(user("viewer", allowed=False))
    assert viewer.get("/api/incidents").status_code == 200  # reading needs a login only
    refused = viewer.post(f"/api/incidents/{incident_id}/retry", data="{}", content_type="application/json")
    assert refused.status_code == 403 and "operate_run" in refused.json()["error"]
    assert Client().get("/api/incidents").status_code == 401
    assert Client().get("/incidents/").status_code == 302  # to the login page
    assert Client().get("/partials/incident-rows").status_code == 401
    assert Run.objects.get(id=root).status == RunStatus.FAILED and not OperatorAction.objects.exists()


def test_pages_show_the_incident_its_sparkline_and_its_runs(session: Client) -> None:
    root = failed_root("incidents/start", {"secs": 9, "who": "<script>x</script>"})
    incident_id = Run.objects.get(id=root).incident_id
    page = session.get("/incidents/").content.decode()
    assert f'data-incident="{incident_id}"' in page and "inc-leaf" in page and 'class="sparkline"' in page
    assert 'data-total="1"' in page and '<rect x="115.0" y="0.0"' in page  # this hour's bar, as SVG
    rows = session.get("/partials/incident-rows").content.decode()
    assert f'data-incident="{incident_id}"' in rows and "<html" not in rows
    detail = session.get(f"/incidents/{incident_id}/").content.decode()
    assert f'/runs/{root}/' in detail and "Retry root causes" in detail and "<script>x</script>" not in detail


def test_backfill_joins_roots_that_failed_before_incidents(db: None) -> None:
    error = {"name": "KeyError", "message": "'user-17'", "stack": None}
    Run.objects.bulk_create([
        run_row("oldroot1", function_id="root", status=RunStatus.FAILED, failure_cause_run_id="oldleaf1"),
        run_row("oldleaf1", function_id="leaf", root_run_id="oldroot1", parent_run_id="oldroot1",
                parent_step_id="call", status=RunStatus.FAILED, error=error, failed_step_id="load"),
        run_row("oldroot2", function_id="root", status=RunStatus.FAILED, failure_cause_run_id="oldleaf2"),
        run_row("oldleaf2", function_id="leaf", root_run_id="oldroot2", parent_run_id="oldroot2",
                parent_step_id="call", status=RunStatus.FAILED, error={**error, "message": "'user-4'"},
                failed_step_id="load"),
        run_row("okroot", function_id="root"),
    ])
    out = io.StringIO()
    call_command("backfill_incidents", stdout=out)
    assert out.getvalue().startswith("2 failed root run(s)")
    incident = Incident.objects.get()
    assert (incident.function_id, incident.step_id, incident.error_type, incident.count) == ("leaf", "load",
                                                                                           "KeyError", 2)
    assert set(Run.objects.filter(incident_id=incident.id).values_list("id", flat=True)) == {"oldroot1", "oldroot2"}
    assert incident_store.backfill() == 0  # again: nothing left to join


def test_the_migration_joins_roots_that_failed_before_it(transactional_db: None) -> None:
    """A database upgraded from the version before incidents shows its failed roots grouped."""
    loader = MigrationLoader(connection)
    [mine] = [key for key in loader.graph.nodes if key[0] == "runs" and key[1].endswith("_incidents")]
    [before] = loader.graph.node_map[mine].parents
    [latest] = [key for key in loader.graph.leaf_nodes() if key[0] == "runs"]
    MigrationExecutor(connection).migrate([before.key])
    try:
        old_run = MigrationExecutor(connection).loader.project_state(before.key).apps.get_model("runs", "Run")
        now = timezone.now()
        common = {"app_id": "old-app", "event_id": "evt", "event_name": "old/event", "event_ts": 0, "created_at": now,
                  "ended_at": now, "status": RunStatus.FAILED}
        old_run.objects.create(id="mroot", function_id="root", root_run_id="mroot", failure_cause_run_id="mleaf",
                               **common)
        old_run.objects.create(id="mleaf", function_id="leaf", root_run_id="mroot", parent_run_id="mroot",
                               parent_step_id="call", failed_step_id="load",
                               error={"name": "KeyError", "message": "'user-9'"}, **common)
    finally:
        MigrationExecutor(connection).migrate([latest])
    incident = Incident.objects.get()
    assert (incident.function_id, incident.step_id, incident.error_type, incident.message, incident.count) == (
        "leaf", "load", "KeyError", "'…'", 1)
    assert Run.objects.get(id="mroot").incident_id == incident.id and Run.objects.get(id="mleaf").incident_id is None


def test_prune_drops_incidents_whose_runs_are_all_gone(db: None) -> None:
    from datetime import timedelta

    from runs.store.prune import prune

    old = timezone.now() - timedelta(days=40)
    error = {"name": "ValueError", "message": "bad 1"}
    Run.objects.bulk_create([run_row("goneroot", status=RunStatus.FAILED, error=error, created_at=old),
                             run_row("keptroot", status=RunStatus.FAILED, error=error)])
    incident_store.backfill()
    [incident_id] = Incident.objects.values_list("id", flat=True)
    Incident.objects.filter(id=incident_id).update(last_seen=old)  # as if only the old root had failed lately
    assert prune(timedelta(days=30)).runs == 1
    assert Incident.objects.filter(id=incident_id).exists()  # "keptroot" still belongs to it
    Run.objects.filter(id="keptroot").delete()
    prune(timedelta(days=30))
    assert not Incident.objects.exists()


def test_an_sdk_root_cause_is_named_by_its_step_name_and_runtime(db: None) -> None:
    """Issue 10: an SDK app's failure is an incident like a native one, its failing step shown by its readable
    name (its id is a SHA-1 hash) and its function's runtime, on the list, the incident's page and the API."""
    import html

    from tests.integration.sdk_app_rows import FAILED_STEP, JS_APP, create_sdk_rows

    rows = create_sdk_rows()
    assert incident_store.backfill() == 1
    [incident] = Incident.objects.all()
    assert (incident.app_id, incident.step_id) == (JS_APP, rows.failed_hash)
    browser = Client()
    browser.force_login(user())
    for page in (browser.get("/incidents/"), browser.get(f"/incidents/{incident.id}/")):
        text = html.unescape(page.content.decode())
        assert page.status_code == 200
        assert f'title="step id {rows.failed_hash}" data-step-id="{rows.failed_hash}">{FAILED_STEP}<' in text
        assert "inngest-js" in text
    [row] = browser.get("/api/incidents").json()["incidents"]
    assert (row["step_id"], row["step_name"], row["runtime"]) == (rows.failed_hash, FAILED_STEP, "inngest-js")
