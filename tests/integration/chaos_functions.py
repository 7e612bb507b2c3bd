"""A mixed workload for the multi-process fault tests: chains, fan-outs of 10, and sync functions.

Loaded by `manage.py worker` subprocesses through RUNS_FUNCTION_MODULES. Every `step.run` appends
`<run id>/<step id> <pid>` to the effects file named in the event data, so a test can tell which steps ran
more than once and in which processes.
"""

from __future__ import annotations

import asyncio
import os
import time

from runs.sdk import App, Context
from tests.integration.effects import append_line

app = App("it-chaos")

CHAIN, FAN_OUT, SYNC, FAN_IN = "it-chaos/chain", "it-chaos/fan-out", "it-chaos/sync", "it-chaos/fan-in"
CHAIN_DEPTH = 3
FAN_OUT_WIDTH = 10
STEP_SECONDS = 0.005  # a step takes a moment, so kills land inside steps as well as between them


def effect(path: str, run_id: str, step: str, value: object, seconds: float = STEP_SECONDS) -> object:
    if seconds:
        time.sleep(seconds)
    append_line(path, f"{run_id}/{step}", os.getpid())
    return value


@app.function(id="chaos-link", retries=3)
async def chaos_link(ctx: Context) -> int:
    data = ctx.event.data
    here = await ctx.step.run("here", effect, data["path"], ctx.run_id, "here", data["left"])
    if data["left"] == 0:
        return 0
    below = await ctx.step.invoke("next", function=chaos_link, data={"path": data["path"], "left": here - 1})
    return below + 1


@app.function(id="chaos-chain", trigger=CHAIN, retries=3)
async def chaos_chain(ctx: Context) -> int:
    path = ctx.event.data["path"]
    await ctx.step.run("start", effect, path, ctx.run_id, "start", 1)
    return await ctx.step.invoke("chain", function=chaos_link, data={"path": path, "left": CHAIN_DEPTH - 1})


@app.function(id="chaos-leaf", retries=3)
async def chaos_leaf(ctx: Context) -> int:
    data = ctx.event.data
    seconds = data.get("seconds", STEP_SECONDS)
    return await ctx.step.run("square", effect, data["path"], ctx.run_id, "square", data["n"] ** 2, seconds)


@app.function(id="chaos-fan-out", trigger=FAN_OUT, retries=3)
async def chaos_fan_out(ctx: Context) -> int:
    data = ctx.event.data
    width = data.get("width", FAN_OUT_WIDTH)
    leaf = {"path": data["path"], "seconds": data.get("seconds", STEP_SECONDS)}
    squares = await asyncio.gather(*[
        ctx.step.invoke(f"leaf-{n}", function=chaos_leaf, data={**leaf, "n": n}) for n in range(width)])
    return await ctx.step.run("sum", effect, data["path"], ctx.run_id, "sum", sum(squares))


@app.function(id="chaos-fan-in", trigger=FAN_IN, retries=0)
async def chaos_fan_in(ctx: Context) -> int:
    """Many children resolving one parent at nearly the same moment: the fan-in of lost wake-ups."""
    data = ctx.event.data
    squares = await asyncio.gather(*[
        # Leaves of uneven length: resolutions keep arriving while the parent is claimed and replayed.
        ctx.step.invoke(f"leaf-{n}", function=chaos_leaf, data={"path": data["path"], "n": n, "seconds": n % 4 / 500})
        for n in range(data["width"])])
    return sum(squares)


@app.function(id="chaos-sync-child", retries=3)
def chaos_sync_child(ctx: Context) -> int:
    data = ctx.event.data
    return ctx.step.run("double", effect, data["path"], ctx.run_id, "double", data["n"] * 2)


@app.function(id="chaos-sync", trigger=SYNC, retries=3)
def chaos_sync(ctx: Context) -> int:
    path = ctx.event.data["path"]
    one = ctx.step.run("one", effect, path, ctx.run_id, "one", 1)
    doubled = ctx.step.invoke("child", function=chaos_sync_child, data={"path": path, "n": 20})
    return ctx.step.run("two", effect, path, ctx.run_id, "two", one + doubled)


EXPECTED_OUTPUT = {CHAIN: CHAIN_DEPTH - 1, FAN_OUT: sum(n * n for n in range(FAN_OUT_WIDTH)), SYNC: 41}
