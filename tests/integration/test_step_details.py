"""Step details show what a step was given (issue 11 item 14): step.run's arguments, an invoke's data, as
JSON the page's viewer folds; and the graph API labels a fan-out's runs by what tells them apart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard import queries
from runs import client
from runs.models import Run, Step
from runs.sdk import App, Context
from runs.testing import wait_for_run
from tests.benchmarks.trees import run_row

app = App("it-step-details")


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


def _add(a: int, b: int, options: dict[str, Any]) -> int:
    return a + b + len(options)


@app.function(id="details-child", retries=0)
async def details_child(ctx: Context) -> int:
    return int(ctx.event.data["n"])


@app.function(id="details-parent", trigger="details/go", retries=0)
async def details_parent(ctx: Context) -> Any:
    total = await ctx.step.run("add", _add, 2, 3, {"html": "<b>x</b>"})
    await ctx.step.run("opaque", lambda thing: "ok", Opaque())
    await ctx.step.run("no-args", lambda: 1)
    return await asyncio.gather(*[ctx.step.invoke(f"square-n{n}", function=details_child, data={"n": n})
                                  for n in range(3)]), total


@pytest.fixture
def viewer(worker) -> Client:  # type: ignore[no-untyped-def]
    http = Client()
    http.force_login(get_user_model().objects.create_user("viewer", password="pw"))
    return http


def test_a_step_keeps_and_shows_what_it_was_given(viewer: Client) -> None:
    [run] = client.runs_for_event(client.send("details/go"))
    assert wait_for_run(run.id).status == "completed"
    steps = {step.step_id: step for step in Step.objects.filter(run_id=run.id)}
    assert steps["add"].input == [2, 3, {"html": "<b>x</b>"}]
    assert steps["opaque"].input == ["<Opaque thing>"]  # not JSON: its repr, and the step still ran
    assert steps["no-args"].input is None
    assert steps["square-n1"].input == {"data": {"n": 1}, "user": {}}
    api = viewer.get(f"/api/runs/{run.id}").json()
    assert {step["step_id"]: step["input"] for step in api["steps"]}["add"] == [2, 3, {"html": "<b>x</b>"}]
    page = viewer.get(f"/runs/{run.id}/").content.decode()
    assert page.count('<div class="wide step-input"><h3>Input</h3><pre class="json-view">') == 5  # not no-args
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # escaped
    assert "tributary/js/json-view.js" in page


def test_the_graph_labels_a_fan_out_and_its_grouped_members(db: None) -> None:
    http = Client()
    http.force_login(get_user_model().objects.create_user("reader", password="pw"))
    Run.objects.bulk_create([run_row("fan", function_id="album")] + [
        run_row(f"fan-{n}", function_id="resize", root_run_id="fan", parent_run_id="fan", depth=1,
                parent_step_id=f"resize-IMG_{n:04d}.jpg") for n in range(30)])
    graph = http.get("/api/runs/fan/graph").json()
    labels = {node["id"]: node["label"] for node in graph["nodes"]}
    assert labels["fan"] is None and labels["fan-7"] == "0007.jpg"
    small = queries.run_graph("fan", group_above=5, aggregate_above=10)
    [group] = [node for node in small["nodes"] if node.get("aggregate")]
    assert group["member_labels"]["fan-12"] == "0012.jpg" and len(group["member_labels"]) == 30
