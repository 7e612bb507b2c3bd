"""Found because it is an installed app's `functions.py`; nothing imports it by name."""

from __future__ import annotations

from runs.sdk import App, Context

app = App("discovery-app")


@app.function(id="discovered-in-app", trigger="discovery/app")
async def discovered_in_app(ctx: Context) -> str:
    return f"app functions.py saw {ctx.event.data['n']}"
