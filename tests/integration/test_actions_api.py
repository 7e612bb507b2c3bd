"""O3-O6 over HTTP: permission, CSRF, refusals, bulk preview and apply, audit records."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from runs import client
from runs.models import ApiToken, OperatorAction, Run
from runs.sdk import App, Context
from runs.store import tokens
from runs.testing import wait_for_run
from tests.helpers import csrf_session, operator

app = App("it-actions-api")


@app.function(id="sleeper", trigger="actions/sleep", retries=0)
async def sleeper(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@app.function(id="breaks", trigger="actions/break", retries=0)
async def breaks(ctx: Context) -> None:
    raise RuntimeError("broken on purpose")


def post(http: Client, url: str, body: object, **extra: str):  # type: ignore[no-untyped-def]
    return http.post(url, data=json.dumps(body), content_type="application/json", **extra)


def started(name: str) -> str:
    [run] = client.runs_for_event(client.send(name))
    return run.id


def waiting(run_id: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while client.get_run(run_id).status != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    return csrf_session(operator())


def csrf(http: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": http.cookies["csrftoken"].value}


def test_o6_cancel_needs_csrf_for_a_session_and_is_audited(session: Client) -> None:
    run_id = started("actions/sleep")
    waiting(run_id)
    assert post(session, f"/api/runs/{run_id}/cancel", {}).status_code == 403
    response = post(session, f"/api/runs/{run_id}/cancel", {"cascade": True}, **csrf(session))
    assert response.status_code == 200, response.content
    assert response.json()["run"]["status"] == "cancelled"
    entry = OperatorAction.objects.get(action="cancel_cascade")
    assert entry.username == "op" and entry.run_ids == [run_id] and entry.outcome == "done"
    again = post(session, f"/api/runs/{run_id}/cancel", {}, **csrf(session))
    assert again.status_code == 409 and "cancelled" in again.json()["error"]


def test_o6_without_the_permission_every_action_is_403(worker) -> None:
    http = Client()
    http.force_login(operator("viewer", allowed=False))
    run_id = started("actions/sleep")
    for url, body in ((f"/api/runs/{run_id}/cancel", {}), (f"/api/runs/{run_id}/retry", {}),
                      ("/api/runs/bulk", {"action": "cancel", "filters": {"function": "sleeper"}})):
        response = post(http, url, body)
        assert response.status_code == 403 and "operate_run" in response.json()["error"]
    assert not OperatorAction.objects.exists()


def test_o6_api_token_acts_without_csrf_and_anonymous_is_401(worker) -> None:
    token, key = tokens.issue(operator(), scope=ApiToken.Scope.OPERATE, expires_in=None)
    run_id = started("actions/break")
    assert wait_for_run(run_id).status == "failed"
    assert post(Client(), f"/api/runs/{run_id}/retry", {}).status_code == 401
    response = post(Client(enforce_csrf_checks=True), f"/api/runs/{run_id}/retry", {"mode": "from_start"},
                    HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["run"]["id"] != run_id
    assert token.user.username == OperatorAction.objects.get().username


def test_o4_retry_refusals_and_bad_input(session: Client) -> None:
    run_id = started("actions/sleep")
    headers = csrf(session)
    assert post(session, f"/api/runs/{run_id}/retry", {"mode": "from_failure"}, **headers).status_code == 409
    assert post(session, f"/api/runs/{run_id}/retry", {"mode": "nope"}, **headers).status_code == 400
    assert post(session, "/api/runs/NOSUCHRUN/retry", {}, **headers).status_code == 404
    bad = session.post(f"/api/runs/{run_id}/cancel", data=b"{not json", content_type="application/json", **headers)
    assert bad.status_code == 400
    assert session.get(f"/api/runs/{run_id}/cancel").status_code == 405


def test_bulk_preview_then_apply_in_batches(session: Client) -> None:
    ids = [started("actions/sleep") for _ in range(5)]
    for run_id in ids:
        waiting(run_id)
    headers = csrf(session)
    body = {"action": "cancel", "filters": {"function": "sleeper"}}
    preview = post(session, "/api/runs/bulk", {**body, "dry_run": True}, **headers)
    assert preview.json() == {"matched": 5, "run_ids": ids}  # the runs it will touch, oldest first
    assert Run.objects.filter(id__in=ids, status="waiting").count() == 5  # a preview changes nothing
    applied = post(session, "/api/runs/bulk", body, **headers)
    assert applied.json() == {"matched": 5, "done": 5}
    assert Run.objects.filter(id__in=ids, status="cancelled").count() == 5
    entry = OperatorAction.objects.get(action="bulk_cancel")
    assert (entry.total, entry.processed, entry.outcome) == (5, 5, "done")
    assert post(session, "/api/runs/bulk", {"action": "cancel", "filters": {}}, **headers).status_code == 400
    assert post(session, "/api/runs/bulk", {"action": "cancel", "filters": {"colour": "red"}},
                **headers).status_code == 409


def test_bulk_retry_from_the_python_client(worker) -> None:
    ids = [started("actions/break") for _ in range(3)]
    for run_id in ids:
        assert wait_for_run(run_id).status == "failed"
    assert client.bulk_retry(function="breaks", status="failed") == 3
    for run_id in ids:
        run = wait_for_run(run_id)
        assert run.status == "failed" and run.attempts == 2
