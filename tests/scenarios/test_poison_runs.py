"""No input keeps a run alive for ever (S15: a run ends, completed or failed): a value longer than its column
fails the call that hands it over, naming the limit; a value the database still refuses fails the run with
the database's error; a lost connection mid-commit costs a retry, not the run or a second execution."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from runs import client
from runs.limits import MAX_NAME_CHARS, MAX_STEP_ID_CHARS
from runs.sdk import App, Context, reference_function
from runs.testing import wait_for_run
from tests.helpers import run_id_for

app = App("poison-app")

EXECUTED: Counter[str] = Counter()
RELEASE = threading.Event()


def count(label: str) -> str:
    EXECUTED[label] += 1
    return label


@app.function(id="poison-long-step-id", trigger="poison/step-id", retries=2)
async def long_step_id(ctx: Context) -> Any:
    await ctx.step.run("first", count, "first")
    return await ctx.step.run("s" * ctx.event.data["length"], count, "long")


@app.function(id="poison-long-wait", trigger="poison/wait", retries=2)
async def long_wait(ctx: Context) -> Any:
    data = ctx.event.data
    return await ctx.step.wait_for_event("wait", event=data["event"], match=data.get("match"), timeout="1h")


@app.function(id="poison-long-invoke", trigger="poison/invoke", retries=2)
async def long_invoke(ctx: Context) -> Any:
    return await ctx.step.invoke("call", function=reference_function("f" * (MAX_NAME_CHARS + 1)))


@app.function(id="poison-refused", trigger="poison/refused", retries=2)
def refused(ctx: Context) -> Any:
    where = ctx.event.data["where"]
    ctx.step.run("first", count, "refused:first")
    ctx.step.run("x" * (MAX_STEP_ID_CHARS + 1), count, "refused:long")
    if where == "middle":
        ctx.step.run("after", count, "refused:after")  # its start commits the long step first: refused
    return "done"


@app.function(id="poison-slow-step", trigger="poison/slow")
async def slow_step(ctx: Context) -> Any:
    def slow() -> str:
        EXECUTED["slow"] += 1
        assert RELEASE.wait(30), "the test never released the step"
        return "slow"

    first = await ctx.step.run("slow", slow)
    return [first, await ctx.step.run("next", count, "next")]


@pytest.fixture(autouse=True)
def _reset() -> None:
    EXECUTED.clear()
    RELEASE.clear()


def test_a_step_id_at_the_limit_works_one_past_it_fails_the_run_naming_the_limit(worker: Any) -> None:
    done = wait_for_run(run_id_for("poison/step-id", {"length": MAX_STEP_ID_CHARS}), timeout=20)
    assert done.status == "completed" and done.output == "long"

    failed = wait_for_run(run_id_for("poison/step-id", {"length": MAX_STEP_ID_CHARS + 1}), timeout=20)
    assert failed.status == "failed"
    assert failed.error["name"] == "LimitExceeded"
    assert f"step id is {MAX_STEP_ID_CHARS + 1} characters long; the limit is {MAX_STEP_ID_CHARS}" in \
        failed.error["message"]
    assert failed.attempts == 1  # not retried: the same code would fail the same way


@pytest.mark.parametrize(("data", "what"), [
    ({"event": "e" * (MAX_NAME_CHARS + 1)}, "event name"),
    ({"event": "poison/never", "match": "data." + "m" * MAX_NAME_CHARS}, "match"),
])
def test_an_over_long_wait_fails_the_run_naming_the_limit(worker: Any, data: dict, what: str) -> None:
    failed = wait_for_run(run_id_for("poison/wait", data), timeout=20)
    assert failed.status == "failed", failed.status
    assert f"step.wait_for_event('wait') {what} is" in failed.error["message"]
    assert f"the limit is {MAX_NAME_CHARS}" in failed.error["message"]


def test_an_over_long_invoke_target_fails_the_run_naming_the_limit(worker: Any) -> None:
    failed = wait_for_run(run_id_for("poison/invoke"), timeout=20)
    assert failed.status == "failed"
    assert f"function id is {MAX_NAME_CHARS + 1} characters long" in failed.error["message"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite stores over-long text; nothing refuses it")
@pytest.mark.parametrize("where", ["middle", "last"])
def test_a_commit_the_database_refuses_fails_the_run_with_its_error(
        worker: Any, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # A bounded value no check catches (the check is switched off here): PostgreSQL refuses the commit.
    monkeypatch.setattr("runs.engine.passes.check_length", lambda value, *args: value)
    failed = wait_for_run(run_id_for("poison/refused", {"where": where}), timeout=20)
    assert failed.status == "failed"
    assert failed.error["name"] == "CommitRefused"
    assert "value too long" in failed.error["message"]
    assert EXECUTED["refused:after"] == 0  # nothing started after the refused step
    run = client.get_run(failed.id)
    assert [step.step_id for step in run.steps] == ["first"]  # what earlier commits stored is kept


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends")
def test_a_connection_lost_mid_pass_costs_a_retry_not_the_run_or_a_second_execution(worker: Any) -> None:
    run_id = run_id_for("poison/slow")
    _wait_for(lambda: EXECUTED["slow"] == 1)
    # Every connection but this test's own breaks, as in a PostgreSQL restart: the worker's next commit
    # meets a dead connection and must reconnect and commit again.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    RELEASE.set()
    done = wait_for_run(run_id, timeout=20)
    assert done.status == "completed" and done.output == ["slow", "next"]
    assert Counter({"slow": 1, "next": 1}) == EXECUTED


def _wait_for(condition: Any, timeout: float = 20) -> None:
    from tests.helpers import wait_until

    wait_until(condition, bool, timeout, "condition")
