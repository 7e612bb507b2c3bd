"""Functions for tests/integration/test_flow_control_processes.py, loaded by `manage.py worker` subprocesses
through RUNS_FUNCTION_MODULES. Steps append `<label> <run id> <pid> <start> <end>` to the file named in the
event data, so the test sees who executed what, and when."""

from __future__ import annotations

import os
import time
from typing import Any

from runs.sdk import App, Concurrency, Context, RateLimit, RateLimitedError
from tests.integration.effects import append_line

app = App("it-flow-control")

LIMITED = "it-flow/limited"
CALLER = "it-flow/caller"
RATE_LIMIT = 5
STEP_SECONDS = 0.05


def effect(path: str, label: str, run_id: str, seconds: float) -> str:
    started = time.time()
    time.sleep(seconds)
    append_line(path, label, run_id, os.getpid(), f"{started:.6f}", f"{time.time():.6f}")
    return label


@app.function(id="flow-limited", trigger=LIMITED, retries=0, concurrency=Concurrency(limit=2))
async def limited(ctx: Context) -> str:
    return await ctx.step.run("work", effect, ctx.event.data["path"], "limited", ctx.run_id, STEP_SECONDS)


@app.function(id="flow-rated", retries=0, rate_limit=RateLimit(limit=RATE_LIMIT, period="1h"))
async def rated(ctx: Context) -> str:
    return await ctx.step.run("work", effect, ctx.event.data["path"], "rated", ctx.run_id, 0.0)


@app.function(id="flow-caller", trigger=CALLER, retries=0)
async def caller(ctx: Context) -> dict[str, Any]:
    """Invokes the rate-limited child from whichever worker process runs it: admission happens there."""
    path = ctx.event.data["path"]
    await ctx.step.run("mark", effect, path, "caller", ctx.run_id, 0.0)
    try:
        return {"child": await ctx.step.invoke("call", function=rated, data={"path": path}, timeout="1m")}
    except RateLimitedError:
        return {"rate_limited": True}
