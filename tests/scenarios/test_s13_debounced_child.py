"""S13: a parent whose invoked child is superseded by debounce is not failed at once: its invoke step fails
when its timeout is reached (InvokeTimeoutError). The superseded child is `skipped`, and the store records
which run absorbed it (superseded_by_run_id, and the reason names it) so the dashboard can show why."""

from __future__ import annotations

import time
from typing import Any

from runs import client
from runs.models import Run
from runs.sdk import App, Context, Debounce, InvokeTimeoutError
from runs.testing import wait_for_run
from tests.helpers import run_for, wait_until

app = App("s13-debounced-child-app")

PARENT_TIMEOUT_S = 2.0


@app.function(id="s13-debounced", retries=0, debounce=Debounce(period="400ms", key="event.data.k"))
async def debounced(ctx: Context) -> str:
    return await ctx.step.run("answer", lambda: f"answered {ctx.event.data['who']}")


@app.function(id="s13-parent", trigger="s13/parent", retries=3)
async def parent(ctx: Context) -> dict[str, Any]:
    data = ctx.event.data
    try:
        got = await ctx.step.invoke("call", function=debounced, data={"k": data["k"], "who": data["who"]},
                                    timeout=data["timeout"])
    except InvokeTimeoutError as exc:
        return {"timed out": exc.run_id}
    return {"got": got}


def _child_of(parent_id: str) -> str:
    info = wait_until(lambda: client.get_run(parent_id), lambda r: bool(r.steps and r.steps[0].child_run_id),
                      what="invoke step recorded")
    return info.steps[0].child_run_id  # type: ignore[return-value]


def test_s13_a_superseded_child_fails_its_parent_at_the_invoke_timeout(worker) -> None:  # S13, S19
    started = time.monotonic()
    first = run_for("s13/parent", {"k": 1, "who": "first", "timeout": f"{int(PARENT_TIMEOUT_S * 1000)}ms"}).id
    first_child = _child_of(first)
    second = run_for("s13/parent", {"k": 1, "who": "second", "timeout": "30s"}).id
    second_child = _child_of(second)

    # The later invocation absorbs the earlier one: only the second child executes, with its own data.
    assert wait_for_run(second, timeout=10).output == {"got": "answered second"}
    skipped = client.get_run(first_child)
    assert skipped.status == "skipped" and skipped.started_at is None and skipped.steps == []
    assert second_child in skipped.status_reason and "debounce" in skipped.status_reason
    assert Run.objects.get(id=first_child).superseded_by_run_id == second_child

    # The first parent is not failed at once: it waits for its invoke's timeout, then InvokeTimeoutError.
    assert client.get_run(first).status == "waiting"
    done = wait_for_run(first, timeout=10)
    assert time.monotonic() - started >= PARENT_TIMEOUT_S
    assert done.status == "completed", done.error
    assert done.output == {"timed out": first_child}
    [step] = done.steps
    assert step.status == "failed" and step.error is not None and step.error["type"] == "InvokeTimeoutError"
    assert step.child_run_id == first_child
    assert client.get_run(first_child).status == "skipped"  # still skipped, never executed


def test_s13_children_of_different_keys_are_not_superseded(worker) -> None:  # S13, S19
    one = run_for("s13/parent", {"k": 1, "who": "one", "timeout": "30s"}).id
    _child_of(one)
    two = run_for("s13/parent", {"k": 2, "who": "two", "timeout": "30s"}).id
    assert wait_for_run(one, timeout=10).output == {"got": "answered one"}
    assert wait_for_run(two, timeout=10).output == {"got": "answered two"}
