"""Issue 11, items 9 and 11 over HTTP and in the store: retry from a chosen step, rerun from the start with
edited input (linked both ways), and pausing a function (its runs queue, none starts until it is resumed)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.db import connection, transaction
from django.test import Client

from runs import client
from runs.events import MAX_EVENT_BYTES
from runs.models import Function, OperatorAction, Run, Step
from runs.sdk import App, Context
from runs.store import claims, sql
from runs.store.backends import backend
from runs.testing import wait_for_run
from tests.helpers import csrf_session, operator

app = App("it-retry-pause")
calls: Counter[str] = Counter()  # step executions, by step id (the worker runs in this process)
fail_once: set[str] = set()  # steps that raise the next time they run


def effect(name: str) -> str:
    calls[name] += 1
    if name in fail_once:
        fail_once.discard(name)
        raise RuntimeError(f"{name} failed on purpose")
    return f"{name}#{calls[name]}"


@app.function(id="three-steps", trigger="retry-pause/steps", retries=0)
async def three_steps(ctx: Context) -> dict:
    a = await ctx.step.run("a", effect, "a")
    b = await ctx.step.run("b", effect, "b")
    c = await ctx.step.run("c", effect, "c")
    return {"a": a, "b": b, "c": c}


@app.function(id="leaf", trigger="retry-pause/leaf", retries=0)
async def leaf(ctx: Context) -> dict:
    return {"leaf": effect("leaf"), "data": ctx.event.data}


@app.function(id="with-child", trigger="retry-pause/with-child", retries=0)
async def with_child(ctx: Context) -> dict:
    first = await ctx.step.run("first", effect, "first")
    child = await ctx.step.invoke("call-leaf", function=leaf, data={"n": 1})
    await ctx.step.sleep("nap", "10ms")
    await ctx.step.send_event("tell", {"name": "retry-pause/told", "data": {}})
    last = await ctx.step.run("last", effect, "last")
    return {"first": first, "child": child, "last": last}


@app.function(id="echo", trigger="retry-pause/echo", retries=0)
async def echo(ctx: Context) -> dict:
    return {"got": ctx.event.data}


@app.function(id="pausable", trigger="retry-pause/pausable", retries=0)
async def pausable(ctx: Context) -> str:
    return effect("pausable")


@app.function(id="invokes-pausable", trigger="retry-pause/invoker", retries=0)
async def invokes_pausable(ctx: Context) -> str:
    return await ctx.step.invoke("call", function=pausable)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    calls.clear()
    fail_once.clear()


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    return csrf_session(operator())


def post(http: Client, url: str, body: object):  # type: ignore[no-untyped-def]
    return http.post(url, data=json.dumps(body), content_type="application/json",
                     HTTP_X_CSRFTOKEN=http.cookies["csrftoken"].value)


def finished(name: str, data: dict | None = None) -> str:
    [run] = client.runs_for_event(client.send(name, data))
    wait_for_run(run.id)
    return run.id


def retried(run_id: str, before: int) -> Run:
    """The run once its retry finished (its version moved past `before` and it is terminal again)."""
    import time

    deadline = time.monotonic() + 10
    while True:
        run = Run.objects.get(id=run_id)
        if run.version > before and run.status in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}"
        time.sleep(0.01)


# --- retry from a chosen step ------------------------------------------------------------------------------


def test_from_step_replays_earlier_steps_and_runs_it_and_later_ones_again(session: Client) -> None:
    run_id = finished("retry-pause/steps")
    run = Run.objects.get(id=run_id)
    assert run.output == {"a": "a#1", "b": "b#1", "c": "c#1"}
    preview = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_step", "step_id": "b", "dry_run": True})
    assert preview.status_code == 200, preview.content
    assert preview.json()["steps"] == ["b", "c"] and preview.json()["new_run"] is False
    assert Run.objects.get(id=run_id).version == run.version  # a preview changes nothing
    response = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_step", "step_id": "b"})
    assert response.status_code == 200, response.content
    assert response.json()["run"]["id"] == run_id  # the same run, not a new one
    again = retried(run_id, run.version)
    assert again.status == "completed"
    assert again.output == {"a": "a#1", "b": "b#2", "c": "c#2"}  # a replayed from the memo
    assert calls == Counter({"a": 1, "b": 2, "c": 2})
    b = Step.objects.get(run_id=run_id, step_id="b")
    assert b.attempts == 2 and [entry["status"] for entry in b.history] == ["completed", "completed"]
    assert len(again.attempts_history) == 2 and "step b" in again.attempts_history[1]["reason"]
    record = OperatorAction.objects.get(action="retry_from_step")
    assert record.run_ids == [run_id] and "from step b" in record.detail and record.username == "op"


def test_from_step_of_a_failed_run_at_an_earlier_step(session: Client) -> None:
    fail_once.add("c")
    run_id = finished("retry-pause/steps")
    run = Run.objects.get(id=run_id)
    assert run.status == "failed" and run.failed_step_id == "c"
    response = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_step", "step_id": "a"})
    assert response.status_code == 200, response.content
    again = retried(run_id, run.version)
    assert again.status == "completed" and again.output == {"a": "a#2", "b": "b#2", "c": "c#2"}
    assert again.error is None and again.failed_step_id is None
    c = Step.objects.get(run_id=run_id, step_id="c")
    assert [entry["status"] for entry in c.history] == ["failed", "completed"] and c.error is None


def test_from_step_starts_new_children_and_plans_sleeps_and_events_anew(session: Client) -> None:
    run_id = finished("retry-pause/with-child")
    run = Run.objects.get(id=run_id)
    assert run.status == "completed", run.error
    [old_child] = Run.objects.filter(parent_run_id=run_id)
    old_tell = Step.objects.get(run_id=run_id, step_id="tell").output
    response = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_step", "step_id": "call-leaf"})
    assert response.status_code == 200, response.content
    again = retried(run_id, run.version)
    assert again.status == "completed", again.error
    children = list(Run.objects.filter(parent_run_id=run_id).order_by("parent_step_attempt"))
    assert [c.parent_step_attempt for c in children] == [0, 1] and children[0].id == old_child.id
    assert again.output["child"]["leaf"] == "leaf#2" and again.output["first"] == "first#1"
    invoke = Step.objects.get(run_id=run_id, step_id="call-leaf")
    assert invoke.child_run_id == children[1].id and invoke.history[0]["child_run_id"] == old_child.id
    assert invoke.history[0]["status"] == "completed"  # how its first attempt ended, not "retrying"
    assert Step.objects.get(run_id=run_id, step_id="tell").output != old_tell  # sent again
    reset = again.attempts_history[0]["reset_steps"]
    assert [entry["step_id"] for entry in reset] == ["nap", "tell"]


def test_from_step_refusals(session: Client) -> None:
    run_id = finished("retry-pause/steps")
    url = f"/api/runs/{run_id}/retry"
    unknown = post(session, url, {"mode": "from_step", "step_id": "zzz"})
    assert unknown.status_code == 400 and "no step 'zzz'" in unknown.json()["error"]
    assert post(session, url, {"mode": "from_step"}).status_code == 400
    assert post(session, url, {"mode": "from_step", "step_id": 7}).status_code == 400
    assert post(session, url, {"mode": "from_failure", "step_id": "a"}).status_code == 400
    assert post(session, "/api/runs/NOSUCH/retry", {"mode": "from_step", "step_id": "a"}).status_code == 404
    assert post(session, url, {"mode": "from_step", "step_id": "zzz", "dry_run": True}).status_code == 400
    refused = OperatorAction.objects.filter(action="retry_from_step", outcome="refused")
    assert refused.count() == 2  # the unknown step and the unknown run (bad requests are not actions)


def test_from_step_refuses_an_active_run(session: Client) -> None:
    Function.objects.filter(app_id="it-retry-pause", function_id="three-steps").update(paused=True)
    [run] = client.runs_for_event(client.send("retry-pause/steps"))
    response = post(session, f"/api/runs/{run.id}/retry", {"mode": "from_step", "step_id": "a"})
    assert response.status_code == 409 and "queued" in response.json()["error"]


# --- rerun from the start with edited input ------------------------------------------------------------------


def test_from_start_with_edited_data_is_a_new_linked_run(session: Client) -> None:
    run_id = finished("retry-pause/echo", {"n": 1})
    original = Run.objects.get(id=run_id)
    preview = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_start", "data": {"n": 2}, "dry_run": True})
    assert preview.status_code == 200 and preview.json()["new_run"] is True
    assert Run.objects.filter(rerun_of_run_id=run_id).count() == 0
    response = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_start", "data": {"n": 2, "x": [1]}})
    assert response.status_code == 200, response.content
    new_id = response.json()["run"]["id"]
    assert new_id != run_id and response.json()["run"]["rerun_of_run_id"] == run_id
    rerun = wait_for_run(new_id)
    assert rerun.status == "completed" and rerun.output == {"got": {"n": 2, "x": [1]}}
    row = Run.objects.get(id=new_id)
    assert row.event_name == original.event_name and row.event_id != original.event_id
    assert Run.objects.get(id=run_id).event_data == {"n": 1}  # the original keeps its input
    record = OperatorAction.objects.get(action="retry_from_start")
    assert set(record.run_ids) == {run_id, new_id} and "edited input" in record.detail
    # Both run pages name the link.
    assert f"/runs/{run_id}/" in session.get(f"/runs/{new_id}/").content.decode()
    assert f"/runs/{new_id}/" in session.get(f"/runs/{run_id}/").content.decode()


def test_from_start_without_data_keeps_the_event(session: Client) -> None:
    run_id = finished("retry-pause/echo", {"n": 1})
    response = post(session, f"/api/runs/{run_id}/retry", {"mode": "from_start"})
    rerun = Run.objects.get(id=response.json()["run"]["id"])
    assert rerun.event_id == Run.objects.get(id=run_id).event_id and rerun.event_data == {"n": 1}


def test_from_start_bad_data_is_refused_with_a_reason(session: Client) -> None:
    run_id = finished("retry-pause/echo", {"n": 1})
    url = f"/api/runs/{run_id}/retry"
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    cases = [([1, 2], 400, "object"), ("text", 400, "object"), ({"deep": deep}, 400, "deeper"),
             ({"nul": "a\u0000b"}, 400, "NUL"), ({"big": "x" * (MAX_EVENT_BYTES + 10)}, 413, "limit")]
    for data, status, words in cases:
        response = post(session, url, {"mode": "from_start", "data": data})
        assert response.status_code == status, (data if status != 413 else "big", response.content[:200])
        assert words in response.json()["error"]
        preview = post(session, url, {"mode": "from_start", "data": data, "dry_run": True})
        assert preview.status_code == status
    assert post(session, url, {"mode": "from_step", "step_id": "x", "data": {}}).status_code == 400
    assert Run.objects.filter(rerun_of_run_id=run_id).count() == 0


# --- pausing a function --------------------------------------------------------------------------------------


def _parked(run_id: str) -> bool:
    run = Run.objects.get(id=run_id)
    return run.paused and run.ready_at is None and run.status == "queued" and run.started_at is None


@pytest.mark.django_db(transaction=True)
def test_a_claim_parks_runs_of_a_paused_function_and_resume_makes_them_due() -> None:
    from runs.store.functions import sync_functions

    sync_functions([pausable, three_steps])
    Function.objects.filter(function_id="pausable").update(paused=True)
    paused_ids = [run.id for _ in range(3) for run in client.runs_for_event(client.send("retry-pause/pausable"))]
    [other] = client.runs_for_event(client.send("retry-pause/steps"))
    got = claims.claim_runs("w", ["it-retry-pause"], limit=2)
    assert [claim.id for claim in got] == [other.id]  # the paused ones were parked, the other one claimed
    assert all(_parked(run_id) for run_id in paused_ids)
    assert claims.claim_runs("w", ["it-retry-pause"], limit=5) == []
    assert claims.next_due(["it-retry-pause"]) is not None  # only the claimed run's lease
    from runs import operations

    change = operations.set_paused("it-retry-pause", "pausable", False)
    assert change.resumed_runs == 3
    assert Run.objects.filter(id__in=paused_ids, paused=False, ready_at__isnull=False).count() == 3
    assert {claim.id for claim in claims.claim_runs("w", ["it-retry-pause"], limit=5)} == set(paused_ids)


@pytest.mark.django_db(transaction=True)
def test_pausing_parks_the_due_backlog_at_once_and_leaves_timers_alone() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from runs import operations
    from runs.store.functions import sync_functions

    sync_functions([pausable])
    ids = [run.id for _ in range(3) for run in client.runs_for_event(client.send("retry-pause/pausable"))]
    later = timezone.now() + timedelta(hours=1)
    Run.objects.filter(id=ids[2]).update(ready_at=later)  # e.g. a debounced run, due in an hour
    operations.set_paused("it-retry-pause", "pausable", True)
    assert _parked(ids[0]) and _parked(ids[1])  # no claim needed to take them out of the claim index
    assert Run.objects.get(id=ids[2]).ready_at == later and not Run.objects.get(id=ids[2]).paused
    assert operations.set_paused("it-retry-pause", "pausable", False).resumed_runs == 2


def test_paused_function_queues_runs_until_resumed(session: Client) -> None:
    response = post(session, "/api/functions/it-retry-pause/pausable/pause", {})
    assert response.status_code == 200, response.content
    assert response.json() == {"app_id": "it-retry-pause", "function_id": "pausable", "paused": True,
                               "changed": True, "resumed_runs": 0}
    listed = {f["function_id"]: f["paused"] for f in session.get("/api/functions").json()["functions"]}
    assert listed["pausable"] is True and listed["echo"] is False
    [held] = client.runs_for_event(client.send("retry-pause/pausable"))
    # A run of another function sent after it completes: a worker looked, and left the paused one queued.
    finished("retry-pause/steps")
    assert Run.objects.get(id=held.id).status == "queued" and calls["pausable"] == 0
    preview = post(session, "/api/functions/it-retry-pause/pausable/resume", {"dry_run": True})
    assert preview.json()["paused"] is True
    assert post(session, "/api/functions/it-retry-pause/pausable/resume", {}).json()["resumed_runs"] in (0, 1)
    assert wait_for_run(held.id).status == "completed" and calls["pausable"] == 1
    actions = list(OperatorAction.objects.order_by("id").values_list("action", "detail"))
    assert [a for a, _ in actions] == ["pause_function", "resume_function"]
    assert "it-retry-pause/pausable" in actions[0][1]


def test_invoked_children_of_a_paused_function_queue_too(session: Client) -> None:
    post(session, "/api/functions/it-retry-pause/pausable/pause", {})
    [parent] = client.runs_for_event(client.send("retry-pause/invoker"))
    finished("retry-pause/steps")  # the worker has been round since
    import time

    deadline = time.monotonic() + 10
    while not Run.objects.filter(parent_run_id=parent.id).exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    finished("retry-pause/steps")
    child = Run.objects.get(parent_run_id=parent.id)
    assert child.status == "queued" and child.started_at is None
    assert Run.objects.get(id=parent.id).status == "waiting"
    post(session, "/api/functions/it-retry-pause/pausable/resume", {})
    assert wait_for_run(parent.id).status == "completed"
    assert wait_for_run(child.id).status == "completed"


def test_pause_refusals(worker) -> None:  # type: ignore[no-untyped-def]
    http = Client(enforce_csrf_checks=True)
    http.force_login(operator())
    http.get("/runs/")
    assert post(http, "/api/functions/it-retry-pause/nope/pause", {}).status_code == 404
    assert post(http, "/api/functions/it-retry-pause/pausable/pause", {"dry_run": "yes"}).status_code == 400
    no_csrf = http.post("/api/functions/it-retry-pause/pausable/pause", data="{}", content_type="application/json")
    assert no_csrf.status_code == 403
    assert http.get("/api/functions/it-retry-pause/pausable/pause").status_code == 405
    viewer = Client()
    viewer.force_login(operator("viewer", allowed=False))
    refused = viewer.post("/api/functions/it-retry-pause/pausable/pause", data="{}",
                          content_type="application/json")
    assert refused.status_code == 403 and "operate_run" in refused.json()["error"]
    assert Client().post("/api/functions/it-retry-pause/pausable/pause").status_code == 401
    assert not Function.objects.filter(paused=True).exists()
    assert list(OperatorAction.objects.values_list("action", "outcome")) == [("pause_function", "refused")]


@pytest.mark.django_db(transaction=True)
def test_the_claim_that_parks_still_scans_the_ready_index() -> None:
    if backend().vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    from django.utils import timezone

    now = timezone.now()
    statement = sql.CLAIM.format(apps="%s", share=backend().share_lock, lock=backend().claim_lock)
    with transaction.atomic(), connection.cursor() as cursor:
        # An empty test table is read whole whatever the indexes: plan as for a large one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, ["a", now, "token", now, now, "a", 1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Parking runs of paused functions costs the claim no other way to its runs than the ready index.
    assert any("run_ready" in line for line in _scans(plan)), plan


def _scans(plan: str) -> list[str]:
    """The plan's scan nodes over runs_run, without costs or constants."""
    import re

    return [re.sub(r"\s*\(cost=.*", "", line).strip(" ->") for line in plan.splitlines()
            if "Scan" in line and "runs_run" in line or "Index Cond" in line and "ready_at" in line
            and not line.strip().startswith("Index Cond") or "Scan on run_ready" in line]


def test_the_python_client_retries_from_a_step_and_pauses(worker) -> None:  # type: ignore[no-untyped-def]
    run_id = finished("retry-pause/steps")
    before = Run.objects.get(id=run_id).version
    assert client.retry_run(run_id, mode="from_step", step_id="c").id == run_id
    assert retried(run_id, before).output == {"a": "a#1", "b": "b#1", "c": "c#2"}
    rerun = client.retry_run(run_id, mode="from_start", data={"edited": True})
    assert rerun.rerun_of_run_id == run_id and Run.objects.get(id=rerun.id).event_data == {"edited": True}
    client.pause_function("it-retry-pause", "pausable")
    assert Function.objects.get(function_id="pausable").paused
    assert client.resume_function("it-retry-pause", "pausable") == 0
    assert list(OperatorAction.objects.values_list("username", flat=True).distinct()) == ["python"]
