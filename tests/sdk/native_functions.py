"""Native Python functions that the SDK tests invoke across runtimes (the server loads this module through
RUNS_FUNCTION_MODULES): TS/Python SDK apps invoke `native-app-native-square`, and native functions invoke the
TypeScript app ("ts-app", tests/sdk_apps/js3 and js4) by reference."""

from __future__ import annotations

from typing import Any

from runs.sdk import App, Context, reference_function

app = App("native-app")


@app.function(id="native-square", trigger="native/square")
async def native_square(ctx: Context) -> dict[str, int]:
    number = ctx.event.data["number"]
    return {"result": number * number}


@app.function(id="native-invokes-ts", trigger="native/invokes-ts")
async def native_invokes_ts(ctx: Context) -> Any:
    """native -> TS: the reference example's main-function, which itself invokes compute-square."""
    return await ctx.step.invoke("invoke-ts", function=reference_function("main-function", app_id="ts-app"))


@app.function(id="native-ts-chain", trigger="native/ts-chain")
async def native_ts_chain(ctx: Context) -> Any:
    """native -> TS probe-chain -> TS probe-leaf-fails: the leaf's failure is the root cause of this run."""
    return await ctx.step.invoke("invoke-ts-chain", function=reference_function("probe-chain", app_id="ts-app"))


@app.function(id="native-on-sent", trigger="probe/sent")
async def native_on_sent(ctx: Context) -> Any:
    """Started by the event an SDK app's step.sendEvent sends (tests/sdk/test_probes.py)."""
    return {"from": ctx.event.data["from"]}


@app.function(id="native-invokes-sdk", trigger="native/invokes-sdk")
async def native_invokes_sdk(ctx: Context) -> Any:
    """native -> the SDK function the event names (`app_id`, `function_id`): with default retries, so a parent
    that retried its body on a child's failure would show it (tests/sdk/test_cross_runtime_failures.py)."""
    target = reference_function(ctx.event.data["function_id"], app_id=ctx.event.data["app_id"])
    return await ctx.step.invoke("invoke-sdk", function=target)


@app.function(id="native-fails", trigger="native/fails", retries=1)
async def native_fails(ctx: Context) -> Any:
    """A native child whose step fails on both of its attempts, invoked by the SDK apps' probe-invoke-native-fails."""

    def broken() -> None:
        raise ValueError("native broke")

    return await ctx.step.run("native-broken", broken)
