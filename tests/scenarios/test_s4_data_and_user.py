"""S4: an invoke's `data` becomes the child's ctx.event.data and `user` its ctx.event.user; omitted, both are {}."""

from __future__ import annotations

from runs import client
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("scenario-s4-app")


@app.function(id="s4-echo", retries=0)
async def echo(ctx: Context) -> dict:
    return {"data": ctx.event.data, "user": ctx.event.user}


@app.function(id="s4-echo-sync", retries=0)
def echo_sync(ctx: Context) -> dict:
    return {"data": ctx.event.data, "user": ctx.event.user}


@app.function(id="s4-parent", trigger="s4/parent")
async def parent(ctx: Context) -> dict:
    both = await ctx.step.invoke("both", function=echo, data={"order": 7, "items": ["a", "b"]},
                                 user={"id": "u-1", "email": "u@example.com"})
    data_only = await ctx.step.invoke("data-only", function=echo, data={"n": 1})
    neither = await ctx.step.invoke("neither", function=echo)
    explicit_none = await ctx.step.invoke("explicit-none", function=echo_sync, data=None, user=None)
    return {"both": both, "data_only": data_only, "neither": neither, "explicit_none": explicit_none}


def test_s4_data_and_user_reach_the_child_event(worker) -> None:
    [run] = client.runs_for_event(client.send("s4/parent", {"ignored": True}, user={"id": "parent-user"}))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == {
        "both": {"data": {"order": 7, "items": ["a", "b"]}, "user": {"id": "u-1", "email": "u@example.com"}},
        # The parent's own event data and user are not passed down: only what the invoke says.
        "data_only": {"data": {"n": 1}, "user": {}},
        "neither": {"data": {}, "user": {}},
        "explicit_none": {"data": {}, "user": {}},
    }
    children = {c.parent_step_id: client.get_run(c.id) for c in client.list_runs(parent_run_id=done.id)}
    assert children["both"].output["data"] == {"order": 7, "items": ["a", "b"]}
    assert children["both"].event_name == "inngest/function.invoked"
