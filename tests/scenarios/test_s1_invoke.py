"""S1: step.invoke starts a brand-new child run and resolves with its return value."""

from __future__ import annotations

from runs import client
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("my-python-app")


@app.function(id="compute-square", trigger="calculate/square", retries=2)
async def compute_square(ctx: Context) -> dict:
    return {"result": ctx.event.data["number"] ** 2}


@app.function(id="main-function", trigger="main/event")
async def main_function(ctx: Context) -> str:
    square = await ctx.step.invoke("compute-square-value", function=compute_square, data={"number": 4})
    return f"Square of 4 is {square['result']}."


def test_s1_the_reference_example_returns_square_of_4(worker) -> None:
    event_id = client.send("main/event")
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == "Square of 4 is 16."
    [step] = done.steps
    assert step.kind == "invoke" and step.child_run_id
    child = client.get_run(step.child_run_id)
    assert child.id != done.id
    assert child.parent_run_id == done.id and child.parent_step_id == "compute-square-value"
    assert child.output == {"result": 16}
    assert child.root_run_id == done.id
