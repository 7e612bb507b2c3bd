"""Benchmark functions (app "bench"), loaded by the bench worker through RUNS_FUNCTION_MODULES.

W1: f(n) invokes f(n-1) down to 0 (a chain of n invokes).
W2: a parent invokes n children in parallel (asyncio.gather); each child is one step.run of x*x.
W3: every event starts a run of one step.run.
W4: W3 with a concurrency limit of 10 per key, keyed by event.data.key over 100 keys.
SCALE's wake storm: a run that sleeps until event.data.until (tests/benchmarks/scale.py clones it).
SCALE's big fan-out: n children under one root in groups of 100 (a run may have at most 1,000 steps, so
10,000 children of one run cannot exist: the root invokes n/100 group runs, each invokes 100 children).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from runs.sdk import App, Concurrency, Context

app = App("bench")

CHAIN_EVENT = "bench/chain"
FANOUT_EVENT = "bench/fanout"
ONE_STEP_EVENT = "bench/one-step"
KEYED_EVENT = "bench/one-step-keyed"
SLEEP_EVENT = "bench/sleep"
WIDE_EVENT = "bench/fanout-wide"
GROUP = 100
KEYED_LIMIT = 10
KEYS = 100


def _square(x: int) -> int:
    return x * x


@app.function(id="chain", trigger=CHAIN_EVENT, retries=0)
async def chain(ctx: Context) -> int:
    n = int(ctx.event.data["n"])
    if n == 0:
        return 0
    below = await ctx.step.invoke("down", function=chain, data={"n": n - 1})
    return int(below) + 1


@app.function(id="square-child", retries=0)
async def square_child(ctx: Context) -> int:
    return await ctx.step.run("square", _square, int(ctx.event.data["x"]))


@app.function(id="fanout", trigger=FANOUT_EVENT, retries=0)
async def fanout(ctx: Context) -> int:
    n = int(ctx.event.data["n"])
    results = await asyncio.gather(*[
        ctx.step.invoke(f"child-{i}", function=square_child, data={"x": i}) for i in range(n)
    ])
    return sum(int(r) for r in results)


@app.function(id="one-step", trigger=ONE_STEP_EVENT, retries=0)
async def one_step(ctx: Context) -> int:
    return await ctx.step.run("square", _square, int(ctx.event.data["x"]))


@app.function(id="one-step-keyed", trigger=KEYED_EVENT, retries=0,
              concurrency=Concurrency(limit=KEYED_LIMIT, key="event.data.key"))
async def one_step_keyed(ctx: Context) -> int:
    return await ctx.step.run("square", _square, int(ctx.event.data["x"]))


@app.function(id="sleeper", trigger=SLEEP_EVENT, retries=0)
async def sleeper(ctx: Context) -> int:
    await ctx.step.sleep_until("nap", datetime.fromisoformat(ctx.event.data["until"]))
    return 1


@app.function(id="fanout-group", retries=0)
async def fanout_group(ctx: Context) -> int:
    start, end = int(ctx.event.data["start"]), int(ctx.event.data["end"])
    results = await asyncio.gather(*[
        ctx.step.invoke(f"child-{i}", function=square_child, data={"x": i}) for i in range(start, end)
    ])
    return sum(int(r) for r in results)


@app.function(id="fanout-wide", trigger=WIDE_EVENT, retries=0)
async def fanout_wide(ctx: Context) -> int:
    n = int(ctx.event.data["n"])
    results = await asyncio.gather(*[
        ctx.step.invoke(f"group-{start}", function=fanout_group, data={"start": start, "end": min(n, start + GROUP)})
        for start in range(0, n, GROUP)
    ])
    return sum(int(r) for r in results)
