"""Functions for test_serve.py, loaded by the `manage.py serve` subprocess through RUNS_FUNCTION_MODULES."""

from __future__ import annotations

from runs.sdk import App, Context

app = App("serve-test")


@app.function(id="square", retries=0)
async def square(ctx: Context) -> int:
    return await ctx.step.run("multiply", lambda: ctx.event.data["n"] ** 2)


@app.function(id="report", trigger="serve-test/report", retries=0)
async def report(ctx: Context) -> str:
    n = ctx.event.data["n"]
    result = await ctx.step.invoke("square-it", function=square, data={"n": n})
    return f"Square of {n} is {result}."
