"""Dry runs of operator actions over HTTP (what the dashboard's confirm dialogs show, issue 5):
cancel {"dry_run": true} counts the runs a cancel would end; retry {"dry_run": true} names the run that would
execute and, for root_cause, the chain that would heal (O5). A dry run changes nothing and writes no audit."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from runs import client
from runs.models import OperatorAction, Run
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("it-actions-preview")


@app.function(id="pv-sleeper", retries=0)
async def sleeper(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@app.function(id="pv-parent", trigger="preview/tree", retries=0)
async def parent(ctx: Context) -> None:
    await ctx.step.invoke("child", function=sleeper)


@app.function(id="pv-broken", retries=0)
async def broken(ctx: Context) -> None:
    await ctx.step.run("explode", lambda: 1 / 0)


@app.function(id="pv-middle", retries=0)
async def middle(ctx: Context) -> None:
    await ctx.step.invoke("call-broken", function=broken)


@app.function(id="pv-top", trigger="preview/chain", retries=0)
async def top(ctx: Context) -> None:
    await ctx.step.invoke("call-middle", function=middle)


@pytest.fixture
def http(worker) -> Client:  # type: ignore[no-untyped-def]
    session = Client(enforce_csrf_checks=True)
    user = User.objects.create_user("previewer", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    session.force_login(user)
    session.get("/runs/")  # the csrftoken cookie
    return session


def post(http: Client, url: str, body: object):  # type: ignore[no-untyped-def]
    return http.post(url, data=json.dumps(body), content_type="application/json",
                     HTTP_X_CSRFTOKEN=http.cookies["csrftoken"].value)


def waiting_tree() -> tuple[str, str]:
    [root] = client.runs_for_event(client.send("preview/tree"))
    deadline = time.monotonic() + 10
    while Run.objects.filter(root_run_id=root.id, status="waiting").count() < 2:
        assert time.monotonic() < deadline, "the tree did not settle into waiting"
        time.sleep(0.01)
    child = Run.objects.get(parent_run_id=root.id)
    return root.id, child.id


def test_cancel_dry_run_counts_the_subtree_and_changes_nothing(http: Client) -> None:
    root_id, child_id = waiting_tree()
    alone = post(http, f"/api/runs/{root_id}/cancel", {"dry_run": True})
    assert alone.status_code == 200 and alone.json() == {"would_cancel": 1, "run_ids": [root_id]}
    cascade = post(http, f"/api/runs/{root_id}/cancel", {"cascade": True, "dry_run": True}).json()
    assert cascade["would_cancel"] == 2 and set(cascade["run_ids"]) == {root_id, child_id}
    assert set(Run.objects.values_list("status", flat=True)) == {"waiting"}
    assert not OperatorAction.objects.exists()
    assert post(http, f"/api/runs/{root_id}/cancel", {"dry_run": "yes"}).status_code == 400
    done = post(http, f"/api/runs/{root_id}/cancel", {"cascade": True}).json()  # without dry_run: as before
    assert set(done["cancelled"]) == {root_id, child_id}
    refused = post(http, f"/api/runs/{root_id}/cancel", {"cascade": True, "dry_run": True})
    assert refused.status_code == 409  # the same refusal the real cancel gives


def test_retry_dry_run_names_the_root_cause_and_the_chain(http: Client) -> None:
    [top_run] = client.runs_for_event(client.send("preview/chain"))
    assert wait_for_run(top_run.id).status == "failed"
    middle_id = Run.objects.get(id=top_run.id).failure_cause_run_id
    leaf_id = Run.objects.get(id=middle_id).failure_cause_run_id
    for given in (top_run.id, middle_id, leaf_id):
        answer = post(http, f"/api/runs/{given}/retry", {"mode": "root_cause", "dry_run": True})
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert body["would_execute"]["id"] == leaf_id and body["would_execute"]["function_id"] == "pv-broken"
        assert [run["id"] for run in body["chain"]] == [leaf_id, middle_id, top_run.id]
    plain = post(http, f"/api/runs/{top_run.id}/retry", {"mode": "from_failure", "dry_run": True}).json()
    assert plain["would_execute"]["id"] == top_run.id and plain["new_run"] is False
    assert post(http, f"/api/runs/{top_run.id}/retry", {"mode": "from_start", "dry_run": True}).json()["new_run"]
    assert set(Run.objects.values_list("status", flat=True)) == {"failed"}
    assert not OperatorAction.objects.exists()


def test_root_cause_retry_audit_names_every_run_of_the_chain(http: Client) -> None:
    [top_run] = client.runs_for_event(client.send("preview/chain"))
    assert wait_for_run(top_run.id).status == "failed"
    middle_id = Run.objects.get(id=top_run.id).failure_cause_run_id
    leaf_id = Run.objects.get(id=middle_id).failure_cause_run_id
    assert post(http, f"/api/runs/{top_run.id}/retry", {"mode": "root_cause"}).status_code == 200
    entry = OperatorAction.objects.get()
    assert set(entry.run_ids) == {top_run.id, middle_id, leaf_id}  # each run page shows the action
    assert wait_for_run(top_run.id).status == "failed"  # still broken: the chain fails again
