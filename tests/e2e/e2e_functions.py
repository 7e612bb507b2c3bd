"""Functions for the dashboard's end-to-end tests, loaded by the `manage.py serve` subprocess
(RUNS_FUNCTION_MODULES). App id unique to this directory."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from runs.sdk import App, Context

app = App("e2e-dashboard")

LEAF_ERROR = "e2e-leaf-exploded"


def _raise() -> None:
    raise KeyError(LEAF_ERROR)  # the leaf's own code fails: it is the root cause of the chain's failure


@app.function(id="e2e-leaf", retries=0)
async def leaf(ctx: Context) -> Any:
    await ctx.step.run("prepare", lambda: "ready")
    return await ctx.step.run("explode", _raise)


@app.function(id="e2e-middle", retries=0)
async def middle(ctx: Context) -> Any:
    return await ctx.step.invoke("call-leaf", function=leaf, data=ctx.event.data)


@app.function(id="e2e-top", trigger="e2e/chain", retries=0)
async def top(ctx: Context) -> Any:
    return await ctx.step.invoke("call-middle", function=middle, data=ctx.event.data)


@app.function(id="e2e-waiter", trigger="e2e/wait", retries=0)
async def waiter(ctx: Context) -> Any:
    approval = await ctx.step.wait_for_event("approval", event="e2e/approve", match="data.token", timeout="5m")
    return {"approved_by": (approval or {}).get("data", {}).get("who")}


@app.function(id="e2e-echo", trigger="e2e/echo", retries=0)
async def echo(ctx: Context) -> Any:
    said = await ctx.step.run("repeat", lambda: ctx.event.data)
    return {"said": said}


# --- operator actions (issue 5, tests/e2e/test_actions_e2e.py) ----------------------------------------------
FIX_ERROR = "e2e-not-fixed-yet"


def _note(data: dict[str, Any], name: str) -> str:
    """A side effect the test counts: one line in the file the event names (the test reads it)."""
    with open(data["effects"], "a", encoding="utf-8") as out:
        out.write(f"{name}\n")
    return name


def _needs_fix(data: dict[str, Any]) -> str:
    # The fix flag is a file the test creates: this function runs in the `manage.py serve` process.
    if not os.path.exists(data["flag"]):
        raise RuntimeError(FIX_ERROR)
    return "fixed"


@app.function(id="e2e-fix-leaf", retries=0)
async def fix_leaf(ctx: Context) -> Any:
    await ctx.step.run("leaf-before", lambda: _note(ctx.event.data, "leaf-before"))
    return await ctx.step.run("needs-fix", lambda: _needs_fix(ctx.event.data))


@app.function(id="e2e-fix-middle", retries=0)
async def fix_middle(ctx: Context) -> Any:
    await ctx.step.run("middle-before", lambda: _note(ctx.event.data, "middle-before"))
    return await ctx.step.invoke("call-fix-leaf", function=fix_leaf, data=ctx.event.data)


@app.function(id="e2e-fix-top", trigger="e2e/fix-chain", retries=0)
async def fix_top(ctx: Context) -> Any:
    await ctx.step.run("top-before", lambda: _note(ctx.event.data, "top-before"))
    return {"leaf": await ctx.step.invoke("call-fix-middle", function=fix_middle, data=ctx.event.data)}


@app.function(id="e2e-hold-leaf", retries=0)
async def hold_leaf(ctx: Context) -> Any:
    return await ctx.step.wait_for_event("release", event="e2e/release", match="data.token", timeout="1h")


@app.function(id="e2e-hold-branch", retries=0)
async def hold_branch(ctx: Context) -> Any:
    return await ctx.step.invoke("call-hold-leaf", function=hold_leaf, data=ctx.event.data)


@app.function(id="e2e-hold-root", trigger="e2e/hold", retries=0)
async def hold_root(ctx: Context) -> Any:
    # A run started by send_event is another tree: a cascading cancel leaves it alone (O1b).
    await ctx.step.send_event("side", {"name": "e2e/hold-side", "data": ctx.event.data})
    return await asyncio.gather(ctx.step.invoke("call-branch", function=hold_branch, data=ctx.event.data),
                                ctx.step.invoke("call-leaf", function=hold_leaf, data=ctx.event.data))


@app.function(id="e2e-hold-side", trigger="e2e/hold-side", retries=0)
async def hold_side(ctx: Context) -> Any:
    return await ctx.step.wait_for_event("release", event="e2e/release", match="data.token", timeout="1h")


# --- incidents (issue 11 item 6, tests/e2e/test_incidents_e2e.py) -------------------------------------------
def _slow_api(data: dict[str, Any]) -> str:
    # Fails until the test creates the flag file; the seconds differ per event, the incident stays one.
    if not os.path.exists(data["flag"]):
        raise TimeoutError(f"upstream timeout after {data['secs']} s")
    return "answered"


@app.function(id="e2e-incident-leaf", retries=0)
async def incident_leaf(ctx: Context) -> Any:
    return await ctx.step.run("call-upstream", lambda: _slow_api(ctx.event.data))


@app.function(id="e2e-incident-root", trigger="e2e/incident", retries=0)
async def incident_root(ctx: Context) -> Any:
    return await ctx.step.invoke("call-incident-leaf", function=incident_leaf, data=ctx.event.data)


# --- retry from a step, rerun with edited input, pausing (issue 11 items 9 and 11, test_retry_pause_e2e.py) --
@app.function(id="e2e-three-steps", trigger="e2e/three-steps", retries=0)
async def three_steps(ctx: Context) -> Any:
    done = [await ctx.step.run(name, lambda name=name: _note(ctx.event.data, name)) for name in ("one", "two", "three")]
    return {"done": done}


@app.function(id="e2e-pausable", trigger="e2e/pausable", retries=0)
async def pausable(ctx: Context) -> Any:
    return await ctx.step.run("work", lambda: _note(ctx.event.data, "work"))


# --- acting on waiting runs, bulk by selection (issue 11 items 10 and 8, tests/e2e/test_waits_bulk_e2e.py) ----
@app.function(id="e2e-napper", trigger="e2e/nap", retries=0)
async def napper(ctx: Context) -> Any:
    await ctx.step.sleep("nap", "1h")
    return "awake"


@app.function(id="e2e-slow-child", retries=0)
async def slow_child(ctx: Context) -> Any:
    await ctx.step.sleep("child-nap", "1h")
    return "child done"


@app.function(id="e2e-invoker", trigger="e2e/invoke-wait", retries=0)
async def invoker(ctx: Context) -> Any:
    return await ctx.step.invoke("call-slow", function=slow_child, data=ctx.event.data)


@app.function(id="e2e-order-waiter", trigger="e2e/order-wait", retries=0)
async def order_waiter(ctx: Context) -> Any:
    # A match on a nested key: the run page's "Send event…" prefills {"order": {"id": <the run's>}}.
    got = await ctx.step.wait_for_event("paid", event="e2e/paid", match="data.order.id", timeout="1h")
    return {"paid": (got or {}).get("data")}
