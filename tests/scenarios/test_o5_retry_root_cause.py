"""O4/O5: retry from failure, rerun from start, and retry of a failed chain's root cause that heals it."""

from __future__ import annotations

import contextlib

import pytest

from runs import client
from runs.exceptions import ActionRefused
from runs.models import OperatorAction, Run
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("scenario-o5")
FIXED = {"value": False}
EFFECTS: dict[str, int] = {}


def effect(name: str) -> str:
    EFFECTS[name] = EFFECTS.get(name, 0) + 1
    return name


@app.function(id="o5-d", retries=0)
async def d(ctx: Context) -> int:
    await ctx.step.run("d-before", lambda: effect("d-before"))

    def flaky() -> int:
        if not FIXED["value"]:
            raise RuntimeError("D is broken")
        return 7

    return await ctx.step.run("d-work", flaky)


@app.function(id="o5-c", retries=0)
async def c(ctx: Context) -> int:
    await ctx.step.run("c-before", lambda: effect("c-before"))
    return await ctx.step.invoke("call-d", function=d) + 1


@app.function(id="o5-b", retries=0)
async def b(ctx: Context) -> int:
    await ctx.step.run("b-before", lambda: effect("b-before"))
    return await ctx.step.invoke("call-c", function=c) + 1


@app.function(id="o5-a", trigger="o5/start", retries=0)
async def a(ctx: Context) -> int:
    await ctx.step.run("a-before", lambda: effect("a-before"))
    value = await ctx.step.invoke("call-b", function=b) + 1
    await ctx.step.run("a-after", lambda: effect("a-after"))
    return value


@pytest.fixture(autouse=True)
def _reset() -> None:
    FIXED["value"] = False
    EFFECTS.clear()


def failed_chain() -> list:
    [root] = client.runs_for_event(client.send("o5/start"))
    a_run = wait_for_run(root.id)
    assert a_run.status == "failed"
    chain = [a_run]
    while chain[-1].failure_cause_run_id:
        chain.append(wait_for_run(chain[-1].failure_cause_run_id))
    assert [r.function_id for r in chain] == ["o5-a", "o5-b", "o5-c", "o5-d"]
    return chain


@pytest.mark.parametrize("given", [0, 1, 2, 3])
def test_o5_retry_root_cause_heals_the_chain_given_any_run_of_it(worker, given: int) -> None:
    chain = failed_chain()
    FIXED["value"] = True
    executing = client.retry_run(chain[given].id, mode="root_cause")
    assert executing.id == chain[3].id  # the root cause D is what executes
    healed = wait_for_run(chain[0].id)
    assert healed.status == "completed", healed.error
    assert healed.output == 10
    for run in chain:
        assert wait_for_run(run.id).status == "completed"
    # Completed steps anywhere in the chain were not executed again; no new child runs.
    assert EFFECTS == {"a-before": 1, "b-before": 1, "c-before": 1, "d-before": 1, "a-after": 1}
    assert Run.objects.filter(root_run_id=chain[0].id).count() == 4
    assert OperatorAction.objects.filter(action="retry_root_cause").count() == 1


def test_o5_root_cause_failing_again_leaves_the_chain_failed_with_the_new_attempt(worker) -> None:
    chain = failed_chain()
    client.retry_run(chain[1].id, mode="root_cause")
    again = wait_for_run(chain[0].id)
    assert again.status == "failed"
    d_run = wait_for_run(chain[3].id)
    assert d_run.status == "failed"
    [work] = [s for s in d_run.steps if s.step_id == "d-work"]
    assert work.attempts == 2 and len(work.history) == 2
    assert again.failure_cause_run_id == chain[1].id


def test_o4_plain_retry_of_the_root_cause_leaves_its_ancestors_failed(worker) -> None:
    chain = failed_chain()
    FIXED["value"] = True
    executing = client.retry_run(chain[3].id, mode="from_failure")
    assert executing.id == chain[3].id
    assert wait_for_run(chain[3].id).status == "completed"
    assert client.get_run(chain[2].id).status == "failed"
    assert client.get_run(chain[0].id).status == "failed"
    assert EFFECTS["d-before"] == 1


def test_o4_retry_from_failure_of_an_invoke_step_invokes_again_as_its_next_attempt(worker) -> None:
    chain = failed_chain()
    FIXED["value"] = True
    client.retry_run(chain[2].id, mode="from_failure")  # C's failed step is the invoke of D
    c_run = wait_for_run(chain[2].id)
    assert c_run.status == "completed", c_run.error
    [call] = [s for s in c_run.steps if s.step_id == "call-d"]
    assert call.attempts == 2 and call.child_run_id != chain[3].id  # S2: a new child, the old one still linked
    assert call.history[0]["child_run_id"] == chain[3].id
    children = Run.objects.filter(parent_run_id=chain[2].id, parent_step_id="call-d").order_by("parent_step_attempt")
    assert [child.parent_step_attempt for child in children] == [0, 1]
    assert EFFECTS["c-before"] == 1


def test_o4_rerun_from_start_is_a_new_run_linked_to_the_original(worker) -> None:
    chain = failed_chain()
    FIXED["value"] = True
    rerun = client.retry_run(chain[0].id, mode="from_start")
    assert rerun.id != chain[0].id
    done = wait_for_run(rerun.id)
    assert done.status == "completed" and done.output == 10
    assert Run.objects.get(id=rerun.id).rerun_of_run_id == chain[0].id
    assert EFFECTS["a-before"] == 2  # from the start: its steps run again, in the new run


def test_o4_refusals(worker) -> None:
    chain = failed_chain()
    with pytest.raises(ActionRefused):
        client.cancel_run(chain[0].id)
    FIXED["value"] = True
    client.retry_run(chain[3].id)
    wait_for_run(chain[3].id)
    with pytest.raises(ActionRefused):
        client.retry_run(chain[3].id)  # completed now
    with pytest.raises(ActionRefused):
        client.retry_run(chain[0].id, mode="sideways")
    assert OperatorAction.objects.filter(outcome="refused").count() == 3


@app.function(id="o4-caught", trigger="o4/caught", retries=0)
async def caught(ctx: Context) -> str:
    def always_fails() -> None:
        effect("caught-step")
        raise RuntimeError("handled by the code")

    with contextlib.suppress(Exception):
        await ctx.step.run("optional", always_fails)
    if not FIXED["value"]:
        raise ValueError("the body itself is broken")
    return "fine"


def test_o4_retry_from_failure_reruns_the_body_not_a_step_whose_failure_was_caught(worker) -> None:
    [run] = client.runs_for_event(client.send("o4/caught"))
    assert wait_for_run(run.id).status == "failed"
    FIXED["value"] = True
    client.retry_run(run.id)
    done = wait_for_run(run.id)
    assert done.status == "completed" and done.output == "fine"
    assert EFFECTS["caught-step"] == 1  # the caught step replayed its failure; it did not run again
    assert done.attempts == 2
