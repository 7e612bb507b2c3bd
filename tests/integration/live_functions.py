"""Functions for test_live_consumer.py, loaded by a `manage.py worker` subprocess through RUNS_FUNCTION_MODULES."""

from __future__ import annotations

from runs.sdk import App, Context

app = App("live-consumer-tests")
ECHO_EVENT = "live-consumer/echo"


@app.function(id="live-echo", trigger=ECHO_EVENT, retries=0)
async def echo(ctx: Context) -> dict:
    return await ctx.step.run("copy", lambda: dict(ctx.event.data))
