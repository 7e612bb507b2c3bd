"""The inngest-py app's functions: the reference document's two functions (compute-square, and main-function
invoking it) written with inngest-py 0.5's API, and the protocol document's probes with the same ids, triggers
and results as the JavaScript apps (tests/sdk_apps/probes.js; tests/sdk_apps/README.md lists them)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from typing import Any

import inngest

RUNTIME = "inngest-py"
# How long probe-concurrency's step holds its concurrency slot: long enough for runs to overlap if unlimited.
HOLD_SECONDS = 0.4

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "py-app"), logger=logging.getLogger("pyapp"))


def _on(event: str) -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event=event)


@client.create_function(fn_id="compute-square", trigger=_on("calculate/square"))
async def compute_square(ctx: inngest.Context) -> dict[str, int]:
    return {"result": ctx.event.data["number"] * ctx.event.data["number"]}  # type: ignore[operator]


@client.create_function(fn_id="main-function", trigger=_on("main/event"))
async def main_function(ctx: inngest.Context) -> str:
    square = await ctx.step.invoke("compute-square-value", function=compute_square, data={"number": 4})
    return f"Square of 4 is {square['result']}."


# ---- probes ---------------------------------------------------------------------------------------------------

@client.create_function(fn_id="probe-step-run", trigger=_on("probe/step-run"))
async def probe_step_run(ctx: inngest.Context) -> list[str]:
    first = await ctx.step.run("first", lambda: "A")
    second = await ctx.step.run("second", lambda: "B")
    return [first, second]


@client.create_function(fn_id="probe-parallel", trigger=_on("probe/parallel"))
async def probe_parallel(ctx: inngest.Context) -> list[str]:
    both = await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: "P1"),
                                     lambda: ctx.step.run("p2", lambda: "P2")))
    return list(both)


@client.create_function(fn_id="probe-sleep", trigger=_on("probe/sleep"))
async def probe_sleep(ctx: inngest.Context) -> str:
    await ctx.step.sleep("nap", datetime.timedelta(seconds=1))
    return await ctx.step.run("after-nap", lambda: "slept")


@client.create_function(fn_id="probe-wait", trigger=_on("probe/wait"))
async def probe_wait(ctx: inngest.Context) -> Any:
    matched = await ctx.step.wait_for_event("wait-ok", event="probe/continue",
                                            if_exp="async.data.id == event.data.id",
                                            timeout=datetime.timedelta(seconds=30))
    return matched.data if matched else None


@client.create_function(fn_id="probe-wait-timeout", trigger=_on("probe/wait-timeout"))
async def probe_wait_timeout(ctx: inngest.Context) -> Any:
    matched = await ctx.step.wait_for_event("wait-short", event="probe/never",
                                            timeout=datetime.timedelta(seconds=1))
    return "timed out" if matched is None else matched.data


@client.create_function(fn_id="probe-cancel-on", trigger=_on("probe/cancel-on"),
                        cancel=[inngest.Cancel(event="probe/cancel", if_exp="async.data.id == event.data.id")])
async def probe_cancel_on(ctx: inngest.Context) -> str:
    # Cancelled by a `probe/cancel` event whose data.id matches (CEL `if`), while it sleeps.
    await ctx.step.sleep("long-nap", datetime.timedelta(seconds=60))
    return "not cancelled"


@client.create_function(fn_id="probe-send", trigger=_on("probe/send"))
async def probe_send(ctx: inngest.Context) -> list[str]:
    return await ctx.step.send_event("send", inngest.Event(name="probe/sent", data={"from": RUNTIME}))


@client.create_function(fn_id="probe-retry", trigger=_on("probe/retry"))
async def probe_retry(ctx: inngest.Context) -> str:
    def flaky() -> str:
        if ctx.attempt == 0:
            raise ValueError("first attempt fails")
        return f"ok on attempt {ctx.attempt}"

    return await ctx.step.run("flaky", flaky)


@client.create_function(fn_id="probe-step-failed", trigger=_on("probe/step-failed"), retries=1)
async def probe_step_failed(ctx: inngest.Context) -> str:
    def always_fails() -> None:
        raise ValueError("always fails")

    await ctx.step.run("always-fails", always_fails)
    return "unreachable"


@client.create_function(fn_id="probe-nonretriable", trigger=_on("probe/nonretriable"))
async def probe_nonretriable(ctx: inngest.Context) -> str:
    def refuse() -> None:
        raise inngest.NonRetriableError("nope")

    await ctx.step.run("refuse", refuse)
    return "unreachable"


@client.create_function(fn_id="probe-retry-after", trigger=_on("probe/retry-after"))
async def probe_retry_after(ctx: inngest.Context) -> str:
    # Raised by the function body, as in the JS apps: the answer is a retriable error with Retry-After.
    if ctx.attempt == 0:
        raise inngest.RetryAfterError("come back in a second", datetime.timedelta(seconds=1))
    return f"retried after, attempt {ctx.attempt}"


@client.create_function(fn_id="probe-invoke-missing", trigger=_on("probe/invoke-missing"))
async def probe_invoke_missing(ctx: inngest.Context) -> Any:
    try:
        await ctx.step.invoke_by_id("invoke-missing", app_id="nope", function_id="missing", data={})
    except inngest.StepError as err:
        return {"caught": err.message}
    return "unreachable"


@client.create_function(fn_id="probe-slow", trigger=_on("probe/slow"))
async def probe_slow(ctx: inngest.Context) -> str:
    await ctx.step.sleep("nap", datetime.timedelta(seconds=3))
    return "slow done"


@client.create_function(fn_id="probe-invoke-timeout", trigger=_on("probe/invoke-timeout"))
async def probe_invoke_timeout(ctx: inngest.Context) -> Any:
    try:
        await ctx.step.invoke("invoke-slow", function=probe_slow, data={}, timeout=datetime.timedelta(seconds=1))
    except inngest.StepError as err:
        return {"name": err.name, "message": err.message}
    return "unreachable"


@client.create_function(fn_id="probe-invoke-slow", trigger=_on("probe/invoke-slow"))
async def probe_invoke_slow(ctx: inngest.Context) -> Any:
    # A parent that waits on a slow child (no timeout): cancelling it with its descendants is tested on it.
    return await ctx.step.invoke("invoke-slow", function=probe_slow, data={})


@client.create_function(fn_id="probe-invoke-native", trigger=_on("probe/invoke-native"))
async def probe_invoke_native(ctx: inngest.Context) -> Any:
    return await ctx.step.invoke_by_id("invoke-native", app_id="native-app", function_id="native-square",
                                       data={"number": 5})


@client.create_function(fn_id="probe-invoke-ts", trigger=_on("probe/invoke-ts"))
async def probe_invoke_ts(ctx: inngest.Context) -> Any:
    # inngest-py -> TS: the TypeScript app's compute-square, by id (another app, another runtime).
    return await ctx.step.invoke_by_id("invoke-ts", app_id="ts-app", function_id="compute-square",
                                       data={"number": 7})


@client.create_function(fn_id="probe-leaf-fails", trigger=_on("probe/leaf-fails"))
async def probe_leaf_fails(ctx: inngest.Context) -> None:
    raise inngest.NonRetriableError("leaf broke")


@client.create_function(fn_id="probe-chain", trigger=_on("probe/chain"))
async def probe_chain(ctx: inngest.Context) -> Any:
    return await ctx.step.invoke("invoke-leaf", function=probe_leaf_fails, data={})


@client.create_function(fn_id="probe-fixable", trigger=_on("probe/fixable"), retries=0)
async def probe_fixable(ctx: inngest.Context) -> str:
    """Fails (not retriable) until the file at event.data.path exists: the operator's retry modes are tested
    on it."""
    path = str(ctx.event.data["path"])

    def check() -> str:
        if not os.path.exists(path):
            raise inngest.NonRetriableError("not fixed yet")
        with open(path, encoding="utf-8") as fixed:
            return f"fixed: {fixed.read()}"

    return await ctx.step.run("check", check)


@client.create_function(fn_id="probe-fix-parent", trigger=_on("probe/fix-parent"))
async def probe_fix_parent(ctx: inngest.Context) -> Any:
    return await ctx.step.invoke("invoke-fixable", function=probe_fixable, data={"path": ctx.event.data["path"]})


@client.create_function(fn_id="probe-long", trigger=_on("probe/long"))
async def probe_long(ctx: inngest.Context) -> str:
    async def long_step() -> str:
        await asyncio.sleep(2)  # a step in flight long enough for a crash test to kill the worker
        return "long done"

    return await ctx.step.run("long-step", long_step)


@client.create_function(fn_id="probe-concurrency", trigger=_on("probe/concurrency"),
                        concurrency=[inngest.Concurrency(limit=1, key="event.data.key")])
async def probe_concurrency(ctx: inngest.Context) -> Any:
    """Concurrency 1 per event.data.key: its one step holds the slot a moment and reports when it ran."""
    async def hold() -> dict[str, Any]:
        start = time.time()
        await asyncio.sleep(HOLD_SECONDS)
        return {"key": ctx.event.data["key"], "start": start, "end": time.time()}

    return await ctx.step.run("hold", hold)


@client.create_function(fn_id="probe-invoke-concurrency", trigger=_on("probe/invoke-concurrency"))
async def probe_invoke_concurrency(ctx: inngest.Context) -> list[Any]:
    """Two children of probe-concurrency with the same key, invoked at once: their own limit serialises them."""
    data = {"key": ctx.event.data["key"]}
    both = await ctx.group.parallel((
        lambda: ctx.step.invoke("hold-1", function=probe_concurrency, data=data),
        lambda: ctx.step.invoke("hold-2", function=probe_concurrency, data=data)))
    return list(both)


@client.create_function(fn_id="probe-rate-limit", trigger=_on("probe/rate-limit"),
                        rate_limit=inngest.RateLimit(limit=1, period=datetime.timedelta(minutes=1),
                                                     key="event.data.key"))
async def probe_rate_limit(ctx: inngest.Context) -> Any:
    return ctx.event.data["key"]


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@client.create_function(fn_id="probe-parallel-flaky", trigger=_on("probe/parallel-flaky"))
async def probe_parallel_flaky(ctx: inngest.Context) -> list[str]:
    """Two parallel steps: `flaky` fails on attempt 0 only. Each execution appends a line to event.data.path."""
    path = str(ctx.event.data["path"])

    def steady() -> str:
        _append(path, "steady")
        return "S"

    def flaky() -> str:
        _append(path, f"flaky {ctx.attempt}")
        if ctx.attempt == 0:
            raise ValueError("flaky fails once")
        return f"flaky ok on attempt {ctx.attempt}"

    both = await ctx.group.parallel((lambda: ctx.step.run("steady", steady), lambda: ctx.step.run("flaky", flaky)))
    return list(both)


@client.create_function(fn_id="probe-parallel-broken", trigger=_on("probe/parallel-broken"), retries=1)
async def probe_parallel_broken(ctx: inngest.Context) -> str:
    """Two parallel steps: `broken` always fails (retries=1, so twice). Each execution appends a line."""
    path = str(ctx.event.data["path"])

    def steady() -> str:
        _append(path, "steady")
        return "S"

    def broken() -> str:
        _append(path, "broken")
        raise ValueError("broken for good")

    await ctx.group.parallel((lambda: ctx.step.run("steady", steady), lambda: ctx.step.run("broken", broken)))
    return "unreachable"


@client.create_function(fn_id="probe-parallel-sleep", trigger=_on("probe/parallel-sleep"))
async def probe_parallel_sleep(ctx: inngest.Context) -> str:
    """Parallel steps, then a sleep, then a new step: after the sleep the server must still disable immediate
    execution (protocol document section 7), which the call log shows (pyapp/calls.py)."""
    await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: "P1"), lambda: ctx.step.run("p2", lambda: "P2")))
    await ctx.step.sleep("nap", datetime.timedelta(seconds=1))
    return await ctx.step.run("after-nap", lambda: "after")


@client.create_function(fn_id="probe-step-retry-after", trigger=_on("probe/step-retry-after"))
async def probe_step_retry_after(ctx: inngest.Context) -> str:
    """RetryAfterError raised inside a step on attempt 0 (inngest-py lifts it to the function: the Call Request
    answers with Retry-After); each attempt appends its instant to event.data.path."""
    path = str(ctx.event.data["path"])

    def patient() -> str:
        _append(path, str(time.time()))
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("come back in a second", datetime.timedelta(seconds=1))
        return f"patient on attempt {ctx.attempt}"

    return await ctx.step.run("patient", patient)


@client.create_function(fn_id="probe-invoke-native-fails", trigger=_on("probe/invoke-native-fails"))
async def probe_invoke_native_fails(ctx: inngest.Context) -> Any:
    return await ctx.step.invoke_by_id("invoke-native-fails", app_id="native-app", function_id="native-fails",
                                       data={})


# OMIT_FUNCTIONS (comma-separated function ids) leaves functions out, so a test can re-sync the app without one.
_OMITTED = set(filter(None, os.environ.get("OMIT_FUNCTIONS", "").split(",")))

functions: list[inngest.Function[Any]] = [compute_square, main_function, probe_step_run, probe_parallel, probe_sleep, probe_wait,
             probe_wait_timeout, probe_cancel_on, probe_send,
             probe_retry, probe_step_failed, probe_nonretriable, probe_retry_after, probe_invoke_missing,
             probe_invoke_timeout, probe_slow, probe_invoke_slow, probe_invoke_native, probe_invoke_ts,
             probe_leaf_fails, probe_chain, probe_fixable, probe_fix_parent, probe_long, probe_concurrency,
             probe_invoke_concurrency, probe_rate_limit, probe_parallel_flaky, probe_parallel_broken,
             probe_parallel_sleep, probe_step_retry_after, probe_invoke_native_fails]
functions = [fn for fn in functions if fn.local_id not in _OMITTED]
