"""Found because RUNS_FUNCTION_MODULES names it; nothing imports it by name."""

from __future__ import annotations

from runs.sdk import App, Context

app = App("discovery-named")


@app.function(id="discovered-by-setting", trigger="discovery/setting")
async def discovered_by_setting(ctx: Context) -> str:
    return f"RUNS_FUNCTION_MODULES saw {ctx.event.data['n']}"
