"""Functions for tests/integration/test_crash_safety.py, run by `manage.py worker` subprocesses that load this
module through the env var RUNS_FUNCTION_MODULES.

The parent has side-effecting steps before and after invokes, a parallel invoke + step, and a slow step;
`block_in` picks where the run blocks (in the parent's slow step or in a child's) so the test can SIGKILL the
worker at a point where every earlier step has certainly completed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runs.sdk import App, Context
from tests.integration.effects import block_until_released, record

app = App("it-crash-safety")

ASYNC_TRIGGER = "it-crash/async"
SYNC_TRIGGER = "it-crash/sync"


def _child_data(data: dict[str, Any], name: str, *, slow: bool = False) -> dict[str, Any]:
    return {"path": data["path"], "name": name, "slow": slow, "block": slow and data["block_in"] == "child"}


@app.function(id="crash-child", retries=0)
async def crash_child(ctx: Context) -> dict[str, str]:
    data = ctx.event.data
    await ctx.step.run("work", record, data["path"], f"child:{data['name']}:work")
    if data["slow"]:
        await ctx.step.run("slow", block_until_released, data["path"], f"child:{data['name']}:slow", data["block"])
    return {"child": data["name"]}


@app.function(id="crash-parent-async", trigger=ASYNC_TRIGGER, retries=0)
async def crash_parent_async(ctx: Context) -> list[str]:
    data = ctx.event.data
    path = data["path"]
    await ctx.step.run("before", record, path, "parent:before")
    first = await ctx.step.invoke("first-child", function=crash_child, data=_child_data(data, "first"))
    second, sibling = await asyncio.gather(
        ctx.step.invoke("second-child", function=crash_child, data=_child_data(data, "second", slow=True)),
        ctx.step.run("sibling", record, path, "parent:sibling"),
    )
    await ctx.step.run("prepare", record, path, "parent:prepare")  # completes in the pass the kill interrupts
    await ctx.step.run("slow", block_until_released, path, "parent:slow", data["block_in"] == "parent")
    third = await ctx.step.invoke("third-child", function=crash_child, data=_child_data(data, "third"))
    await ctx.step.run("after", record, path, "parent:after")
    return [first["child"], second["child"], sibling, third["child"]]


@app.function(id="crash-parent-sync", trigger=SYNC_TRIGGER, retries=0)
def crash_parent_sync(ctx: Context) -> list[str]:
    data = ctx.event.data
    path = data["path"]
    step = ctx.step
    step.run("before", record, path, "parent:before")
    first = step.invoke("first-child", function=crash_child, data=_child_data(data, "first"))
    second, sibling = step.parallel([
        lambda: step.invoke("second-child", function=crash_child, data=_child_data(data, "second", slow=True)),
        lambda: step.run("sibling", record, path, "parent:sibling"),
    ])
    step.run("prepare", record, path, "parent:prepare")  # completes in the pass the kill interrupts
    step.run("slow", block_until_released, path, "parent:slow", data["block_in"] == "parent")
    third = step.invoke("third-child", function=crash_child, data=_child_data(data, "third"))
    step.run("after", record, path, "parent:after")
    return [first["child"], second["child"], sibling, third["child"]]


# Every side effect a complete run leaves, once each, before adding the re-execution of the killed step.
ALL_LABELS = [
    "parent:before", "child:first:work", "child:second:work", "parent:sibling",
    "parent:prepare", "child:second:slow:start", "child:second:slow:done", "parent:slow:start", "parent:slow:done",
    "child:third:work", "parent:after",
]
