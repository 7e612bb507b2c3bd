"""Bad input ends in a clear error, never a hang or a 500 (issue 2, Must show 4): a missing function (S9), a
return value JSON cannot encode (S6), a step id reused in a loop (S2), an event without a name, and a function
that invokes itself without end (S20)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from django.test import Client

from runs import client
from runs.exceptions import InvalidEvent
from runs.models import Event
from runs.sdk import App, Context, reference_function
from runs.testing import wait_for_run

app = App("bad-input-app")

EXECUTED: Counter[str] = Counter()


@app.function(id="bad-missing-target", trigger="bad/missing")
async def missing_target(ctx: Context) -> Any:
    return await ctx.step.invoke("call", function=reference_function("no-such-function"))


@app.function(id="bad-returns-set", trigger="bad/return-set")
async def returns_set(ctx: Context) -> Any:
    EXECUTED["returns-set"] += 1
    return {1, 2, 3}


@app.function(id="bad-step-returns-set", trigger="bad/step-set")
def step_returns_set(ctx: Context) -> Any:
    def make() -> set[int]:
        EXECUTED["step-set"] += 1
        return {1, 2}

    return ctx.step.run("make-set", make)


@app.function(id="bad-square")
async def square(ctx: Context) -> int:
    return ctx.event.data["x"] ** 2


@app.function(id="bad-loop-reuses-id", trigger="bad/loop")
async def loop_reuses_id(ctx: Context) -> dict[str, Any]:
    doubled, squared = [], []
    for x in range(3):
        doubled.append(await ctx.step.run("double", lambda x=x: EXECUTED.update(["double"]) or x * 2))
        await ctx.step.sleep("breathe", 5)  # a replay after each item: ids must match the same results
        squared.append(await ctx.step.invoke("square", function=square, data={"x": x}))
    return {"doubled": doubled, "squared": squared}


@app.function(id="bad-forever", trigger="bad/forever")
async def forever(ctx: Context) -> Any:
    return await ctx.step.invoke("again", function=forever)


def _finish(event_name: str, timeout: float = 10) -> Any:
    EXECUTED.clear()
    [run] = client.runs_for_event(client.send(event_name))
    return wait_for_run(run.id, timeout=timeout)


def test_invoking_a_missing_function_fails_clearly(worker) -> None:  # S9
    done = _finish("bad/missing")
    assert done.status == "failed" and done.error["name"] == "FunctionNotFoundError"
    assert "no-such-function" in done.error["message"] and "bad-input-app" in done.error["message"]


def test_returning_a_set_fails_the_run_naming_the_function_and_type(worker) -> None:  # S6
    done = _finish("bad/return-set")
    assert done.status == "failed" and done.error["name"] == "SerializationError"
    assert "bad-returns-set" in done.error["message"] and "set" in done.error["message"]
    assert EXECUTED["returns-set"] == 1 and done.attempts == 1  # non-retriable


def test_a_step_returning_a_set_fails_naming_the_step(worker) -> None:  # S6
    done = _finish("bad/step-set")
    assert done.status == "failed" and done.error["name"] == "SerializationError"
    assert "'make-set'" in done.error["message"] and "set" in done.error["message"]
    assert EXECUTED["step-set"] == 1 and done.attempts == 1


def test_a_step_id_reused_in_a_loop_gets_deterministic_suffixes(worker) -> None:  # S2
    done = _finish("bad/loop")
    assert done.status == "completed", done.error
    assert done.output == {"doubled": [0, 2, 4], "squared": [0, 1, 4]}
    assert EXECUTED["double"] == 3  # each iteration's step ran once, whatever the replays
    ids = [s.step_id for s in done.steps]
    assert ids == ["double", "breathe", "square", "double:1", "breathe:1", "square:1",
                   "double:2", "breathe:2", "square:2"]
    children = client.list_runs(parent_run_id=done.id)
    assert sorted(c.parent_step_id for c in children) == ["square", "square:1", "square:2"]  # type: ignore[type-var]


@pytest.mark.parametrize("event", [{"data": {"a": 1}}, {"name": ""}, {"name": "   "}, {"name": None},
                                   {"name": 42}, {"name": "inngest/function.finished"},
                                   {"name": "ok", "data": {"tags": {"a"}}}, {"name": "ok", "data": [1, 2]}])
def test_an_event_without_a_valid_name_or_json_data_is_refused(transactional_db, event) -> None:
    with pytest.raises(InvalidEvent):
        client.send_many([event])
    assert not Event.objects.exists()


def test_client_send_refuses_an_empty_name(transactional_db) -> None:
    with pytest.raises(InvalidEvent, match="name"):
        client.send("")
    assert not Event.objects.exists()


def test_http_event_without_a_name_is_a_4xx_with_a_reason(transactional_db, settings) -> None:
    response = Client().post("/api/events", data=json.dumps({"data": {"a": 1}}), content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {settings.RUNS_EVENT_KEY}")
    assert 400 <= response.status_code < 500
    assert "name" in response.json()["error"]
    assert not Event.objects.exists()


def test_endless_self_invoke_stops_at_the_default_depth_limit(worker, settings) -> None:  # S20
    assert settings.RUNS_MAX_INVOKE_DEPTH == 100
    root = _finish("bad/forever", timeout=120)
    assert root.status == "failed"
    chain = client.list_runs(root_run_id=root.id, limit=1000)
    assert len(chain) == 101 and all(r.status == "failed" for r in chain)
    deepest = max(chain, key=lambda r: r.depth)
    assert deepest.depth == 100 and deepest.error["name"] == "InvokeDepthError"
    assert deepest.failure_cause_run_id is None
    assert root.error["name"] == "InvokeDepthError"


# --- values no database column can hold, and events a step cannot send ---------------------------------

NUL_ATTEMPTS: Counter[str] = Counter()


@app.function(id="returns-nul", trigger="bad/nul", retries=3)
async def returns_nul(ctx: Context) -> str:
    def text_with_nul() -> str:
        NUL_ATTEMPTS["step"] += 1
        return "before\x00after"

    return await ctx.step.run("nul-step", text_with_nul)


@app.function(id="returns-surrogate", trigger="bad/surrogate", retries=3)
async def returns_surrogate(ctx: Context) -> str:
    def text_with_lone_surrogate() -> str:
        NUL_ATTEMPTS["surrogate"] += 1
        return "half of \U0001f600: \ud83d"

    return await ctx.step.run("surrogate-step", text_with_lone_surrogate)


LONG_NAMED_ERROR = type("Error" + "X" * 300, (Exception,), {})


@app.function(id="raises-long-named-error", trigger="bad/long-error", retries=0)
async def raises_long_named_error(ctx: Context) -> None:
    raise LONG_NAMED_ERROR("m" * 20_000)


@app.function(id="sends-bad-event", trigger="bad/send", retries=3)
async def sends_bad_event(ctx: Context) -> None:
    NUL_ATTEMPTS["send"] += 1
    await ctx.step.send_event("bad-send", {"name": "inngest/reserved"})


def test_a_nul_character_in_a_step_output_fails_the_step_clearly_not_at_commit(worker) -> None:
    NUL_ATTEMPTS.clear()
    [run] = client.runs_for_event(client.send("bad/nul"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    assert done.error["name"] == "SerializationError"
    assert "NUL" in done.error["message"] and "nul-step" in done.error["message"]
    assert NUL_ATTEMPTS["step"] == 1  # non-retriable: a value that cannot be stored will not be storable later


def test_a_lone_surrogate_in_a_step_output_fails_the_step_clearly_not_at_commit(worker) -> None:
    """No database stores half a UTF-16 pair (PostgreSQL's jsonb refuses it, SQLite's driver cannot encode it): a
    SerializationError at once, like a NUL; a whole pair (an emoji) is fine."""
    NUL_ATTEMPTS.clear()
    [run] = client.runs_for_event(client.send("bad/surrogate"))
    done = wait_for_run(run.id)
    assert (done.status, done.error["name"]) == ("failed", "SerializationError"), done.error
    assert "surrogate" in done.error["message"] and "surrogate-step" in done.error["message"]
    assert NUL_ATTEMPTS["surrogate"] == 1


def test_an_error_too_long_for_its_columns_is_stored_cut_and_joins_its_incident(worker) -> None:
    """An exception class name longer than the name column and a 20,000-character message: the run fails with
    both cut (with a note), its failure is not lost to a refused commit, and it joins an incident."""
    from runs.limits import MAX_ERROR_MESSAGE_CHARS, MAX_NAME_CHARS
    from runs.models import Incident

    [run] = client.runs_for_event(client.send("bad/long-error"))
    done = wait_for_run(run.id)
    assert done.status == "failed", done.error
    assert len(done.error["name"]) == MAX_NAME_CHARS and done.error["name"].startswith("ErrorXXX")
    assert len(done.error["message"]) == MAX_ERROR_MESSAGE_CHARS and "20000 characters" in done.error["message"]
    assert Incident.objects.get(sample_run_id=done.id).error_type == done.error["name"]


def test_an_event_a_step_cannot_send_fails_the_run_at_once(worker) -> None:
    NUL_ATTEMPTS.clear()
    [run] = client.runs_for_event(client.send("bad/send"))
    done = wait_for_run(run.id)
    assert done.status == "failed" and done.attempts == 1
    assert done.error["name"] == "InvalidStepEvent" and "reserved" in done.error["message"]
    assert NUL_ATTEMPTS["send"] == 1
