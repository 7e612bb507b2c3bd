"""The dashboard's JSON API (issue 4 contract): runs list filters, keyset pagination, tree sizes, root causes,
the invocation graph (one query for the tree, aggregation of large trees), functions, events, auth, 400s.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs import client as runs_client
from runs.models import Event, Function, Run, Step
from runs.sdk import App, Context
from runs.status import RunStatus, StepKind, StepStatus
from runs.store import tokens
from runs.testing import wait_for_run
from tests.benchmarks.trees import run_row, wide_tree

app = App("dash-api-tests")
CHAIN_EVENT = "dash-api/chain"


def _read_number(data: dict[str, Any]) -> int:
    return int(data["n"])  # KeyError: the chain's events carry no "n"


@app.function(id="dash-leaf", retries=0)
async def leaf(ctx: Context) -> int:
    return await ctx.step.run("read-number", _read_number, dict(ctx.event.data))


@app.function(id="dash-mid", retries=0)
async def mid(ctx: Context) -> Any:
    return await ctx.step.invoke("call-leaf", function=leaf, data={})


@app.function(id="dash-root", trigger=CHAIN_EVENT, retries=0)
async def root(ctx: Context) -> Any:
    return await ctx.step.invoke("call-mid", function=mid, data={})


@pytest.fixture
def operator(db: None) -> Any:
    return get_user_model().objects.create_user("operator", password="pw")


@pytest.fixture
def api(client: Client, operator: Any) -> Client:
    client.force_login(operator)
    return client


def get(api: Client, url: str, **query: Any) -> Any:
    response = api.get(url, query)
    assert response.status_code == 200, response.content
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [run["id"] for run in body["runs"]]


# --- auth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/runs", "/api/runs/r1/graph", "/api/functions", "/api/events"])
def test_anonymous_gets_401_json(client: Client, db: None, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize("url", ["/runs/", "/runs/r1/", "/functions/", "/events/", "/apps/"])
def test_anonymous_pages_redirect_to_login(client: Client, db: None, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_api_token_reads_the_api(client: Client, operator: Any) -> None:
    _, key = tokens.issue(operator, expires_in=None)
    Run.objects.bulk_create([run_row("r1")])
    response = client.get("/api/runs", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and ids(response.json()) == ["r1"]


def test_root_redirects_to_runs(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/runs/"


# --- runs list: filters -----------------------------------------------------------------------------------


@pytest.fixture
def mixed_runs(db: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([
        run_row("old", app_id="a1", function_id="f1", created_at=now - timedelta(hours=3)),
        run_row("bad", app_id="a1", function_id="f2", status=RunStatus.FAILED, created_at=now - timedelta(minutes=30),
                error={"name": "ValueError", "message": "no"}),
        run_row("kid", app_id="a1", function_id="f1", root_run_id="bad", parent_run_id="bad", depth=1,
                created_at=now - timedelta(minutes=29)),
        run_row("other", app_id="a2", function_id="f1", status=RunStatus.RUNNING, created_at=now - timedelta(minutes=5),
                event_id="evt-shared"),
        run_row("new", app_id="a2", function_id="f3", created_at=now - timedelta(minutes=1), event_id="evt-shared"),
    ])


def test_runs_are_newest_first_and_filters_combine(api: Client, mixed_runs: None) -> None:
    assert ids(get(api, "/api/runs")) == ["new", "other", "kid", "bad", "old"]
    assert ids(get(api, "/api/runs", status="failed")) == ["bad"]
    assert ids(get(api, "/api/runs", app="a1")) == ["kid", "bad", "old"]
    assert ids(get(api, "/api/runs", function="f1")) == ["other", "kid", "old"]
    assert ids(get(api, "/api/runs", app="a1", function="f1")) == ["kid", "old"]
    assert ids(get(api, "/api/runs", since="1h")) == ["new", "other", "kid", "bad"]
    assert ids(get(api, "/api/runs", since="15m")) == ["new", "other"]
    assert ids(get(api, "/api/runs", root_only="1")) == ["new", "other", "bad", "old"]
    assert ids(get(api, "/api/runs", root_only="1", app="a1", since="24h")) == ["bad", "old"]


def test_search_by_run_id_or_event_id(api: Client, mixed_runs: None) -> None:
    assert ids(get(api, "/api/runs", q="kid")) == ["kid"]
    assert ids(get(api, "/api/runs", q="evt-shared")) == ["new", "other"]
    assert ids(get(api, "/api/runs", q="nothing-like-it")) == []


def test_rows_are_run_info_without_steps_plus_tree_size(api: Client, mixed_runs: None) -> None:
    rows = {run["id"]: run for run in get(api, "/api/runs")["runs"]}
    assert "steps" not in rows["bad"]
    assert {"status", "function_id", "app_id", "created_at", "version", "root_run_id"} <= set(rows["bad"])
    assert rows["bad"]["tree_size"] == 2 and rows["bad"]["tree_failed"] == 1
    assert rows["old"]["tree_size"] == 1 and rows["kid"]["tree_size"] is None
    # A run that failed by its own code is its own root cause.
    assert rows["bad"]["root_cause"]["run_id"] == "bad"
    assert rows["new"]["root_cause"] is None


def test_tree_sizes_are_one_grouped_query_for_the_page(api: Client, db: None) -> None:
    for n in range(5):
        wide_tree(f"t{n}", mids=3, leaves_per_mid=4, failing_leaf=False)
    with CaptureQueriesContext(connection) as queries:
        body = get(api, "/api/runs", root_only="1")
    assert [run["tree_size"] for run in body["runs"]] == [1 + 3 * 5] * 5
    run_queries = [q["sql"] for q in queries.captured_queries if Run._meta.db_table in q["sql"]]
    assert len(run_queries) == 2, run_queries  # the page, the tree sizes (no failed rows: no cause lookup)


# --- runs list: keyset pagination ---------------------------------------------------------------------------


def test_cursor_pagination_walks_every_run_once_newest_first(api: Client, db: None) -> None:
    now = timezone.now()
    # Ties on created_at are broken by id, so a page boundary inside a tie loses nothing.
    rows = [run_row(f"p{i:02d}", created_at=now - timedelta(seconds=i // 3)) for i in range(11)]
    Run.objects.bulk_create(rows)
    expected = [run.id for run in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        body = get(api, "/api/runs", limit=4, **({"cursor": cursor} if cursor else {}))
        seen += ids(body)
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == expected and pages == 3


def test_new_runs_do_not_shift_the_next_page(api: Client, db: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([run_row(f"s{i}", created_at=now - timedelta(minutes=i)) for i in range(4)])
    first = get(api, "/api/runs", limit=2)
    Run.objects.bulk_create([run_row("fresh", created_at=now + timedelta(seconds=1))])
    second = get(api, "/api/runs", limit=2, cursor=first["next"])
    assert ids(first) == ["s0", "s1"] and ids(second) == ["s2", "s3"]


# --- bad parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    {"status": "exploded"}, {"since": "yesterday"}, {"since": "0m"}, {"since": "99999d"}, {"limit": "0"},
    {"limit": "-1"}, {"limit": "x"}, {"limit": "100000"}, {"cursor": "not-a-cursor"}, {"cursor": "e30"},
    {"cursor": "WyJ4IiwieSJd"}, {"root_only": "maybe"}, {"q": "x" * 500}, {"app": "a\x00b"},
])
def test_bad_parameters_get_400_with_a_reason(api: Client, db: None, query: dict[str, str]) -> None:
    response = api.get("/api/runs", query)
    assert response.status_code == 400, response.content
    assert response.json()["error"]


def test_graph_bad_focus_is_400_and_unknown_run_404(api: Client, db: None) -> None:
    wide_tree("g", mids=1, leaves_per_mid=1, failing_leaf=False)
    Run.objects.bulk_create([run_row("elsewhere")])
    assert api.get("/api/runs/g/graph", {"focus": "elsewhere"}).status_code == 400
    assert api.get("/api/runs/nope/graph").status_code == 404
    assert api.get("/api/events", {"cursor": "%%%"}).status_code == 400
    assert api.get("/api/functions", {"since": "soon"}).status_code == 400
    assert api.post("/api/runs").status_code == 405


# --- a real 3-level chain failing at the leaf (O2) ------------------------------------------------------------


def test_root_cause_and_graph_of_a_chain_failing_at_the_leaf(worker: Any, api: Client) -> None:  # O2
    event_id = runs_client.send(CHAIN_EVENT, {})
    root_run = Run.objects.get(event_id=event_id, parent_run_id__isnull=True)
    assert wait_for_run(root_run.id, timeout=20).status == RunStatus.FAILED
    mid_run = Run.objects.get(parent_run_id=root_run.id)
    leaf_run = Run.objects.get(parent_run_id=mid_run.id)

    [row] = get(api, "/api/runs", q=root_run.id)["runs"]
    assert row["tree_size"] == 3 and row["tree_failed"] == 3
    cause = row["root_cause"]
    assert (cause["run_id"], cause["function_id"], cause["step_id"]) == (leaf_run.id, "dash-leaf", "read-number")
    assert cause["error"]["name"] == "KeyError"
    # The mid run, listed too, names the same incident.
    assert get(api, "/api/runs", q=mid_run.id)["runs"][0]["root_cause"]["run_id"] == leaf_run.id

    graph = get(api, f"/api/runs/{mid_run.id}/graph")
    assert graph["root_run_id"] == root_run.id and graph["focus"] == mid_run.id
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert set(nodes) == {root_run.id, mid_run.id, leaf_run.id}
    assert {node["status"] for node in nodes.values()} == {"failed"}
    assert nodes[leaf_run.id]["parent_id"] == mid_run.id and nodes[leaf_run.id]["depth"] == 2
    edges = {(e["source"], e["target"], e["kind"], e["step_id"]) for e in graph["edges"]}
    assert edges == {(root_run.id, mid_run.id, "invoke", "call-mid"), (mid_run.id, leaf_run.id, "invoke", "call-leaf")}
    assert graph["root_causes"] == [leaf_run.id]
    assert graph["propagation"] == [[leaf_run.id, mid_run.id, root_run.id]]


def test_runs_started_by_send_event_are_drawn_as_event_edges(api: Client, db: None) -> None:
    wide_tree("e", mids=2, leaves_per_mid=1, failing_leaf=False)
    Run.objects.bulk_create([run_row("sent", function_id="on-notify", triggered_by_run_id="em1", event_id="ev-x")])
    Step.objects.create(run_id="em1", step_id="notify", kind=StepKind.SEND_EVENT, status=StepStatus.COMPLETED,
                        output=["ev-x"], started_at=timezone.now())
    graph = get(api, "/api/runs/e/graph")
    assert {node["id"] for node in graph["nodes"]} == {"e", "em0", "em1", "em0l0", "em1l0", "sent"}
    assert {"source": "em1", "target": "sent", "kind": "event", "step_id": None} in graph["edges"]
    assert graph["root_causes"] == [] and graph["propagation"] == []


# --- a 10,000-run tree -------------------------------------------------------------------------------------


def _graph_queries(api: Client, root_id: str) -> tuple[dict[str, Any], list[str], float]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        body = get(api, f"/api/runs/{root_id}/graph")
        took = time.perf_counter() - started
    tables = (Run._meta.db_table, Step._meta.db_table)
    return body, [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in tables)], took


def test_a_10000_run_tree_is_one_query_and_aggregated(api: Client, db: None) -> None:
    small_root, *_ = wide_tree("s", mids=2, leaves_per_mid=2)
    big_root, big_mid, big_leaf = wide_tree("b", mids=100, leaves_per_mid=99)  # 1 + 100 * 100 = 10,001 runs
    assert Run.objects.filter(root_run_id=big_root).count() == 10_001
    small, small_sql, _ = _graph_queries(api, small_root)
    big, big_sql, took = _graph_queries(api, big_root)
    # One query loads the tree, one looks for its send_event steps: whatever the size.
    assert len(big_sql) == len(small_sql) == 2, big_sql
    assert big["size"] == 10_001 and big["aggregated"] and not small["aggregated"]
    assert len(big["nodes"]) < 500
    nodes = {node["id"]: node for node in big["nodes"]}
    # The failed path is expanded, siblings are grouped by status with counts.
    assert {big_root, big_mid, big_leaf} <= set(nodes)
    groups = [node for node in big["nodes"] if node.get("aggregate")]
    assert groups and all(node["count"] > 1 and node["members"] for node in groups)
    assert sum(node["count"] for node in groups) + len(nodes) - len(groups) == 10_001
    assert big["propagation"] == [[big_leaf, big_mid, big_root]]
    print(f"graph JSON of a 10,001-run tree: {took * 1000:.0f} ms ({connection.vendor})")


# --- functions and events ----------------------------------------------------------------------------------


def test_functions_have_counts_by_status_and_duration_percentiles(api: Client, db: None) -> None:
    Function.objects.create(app_id="fa", function_id="timed", trigger="fa/go", config={"retries": 3})
    Function.objects.create(app_id="fa", function_id="idle")
    now = timezone.now()
    Run.objects.bulk_create([
        run_row(f"d{i}", app_id="fa", function_id="timed", started_at=now, ended_at=now + timedelta(milliseconds=10 * i),
                status=RunStatus.FAILED if i == 100 else RunStatus.COMPLETED)
        for i in range(1, 101)
    ] + [run_row("q1", app_id="fa", function_id="timed", status=RunStatus.QUEUED, started_at=None, ended_at=None)])
    with CaptureQueriesContext(connection) as queries:
        body = get(api, "/api/functions")
    functions = {f["function_id"]: f for f in body["functions"]}
    timed = functions["timed"]
    assert (timed["trigger"], timed["config"], timed["total"]) == ("fa/go", {"retries": 3}, 101)
    assert timed["counts"] == {**{s: 0 for s in RunStatus.values}, "completed": 99, "failed": 1, "queued": 1}
    assert timed["p50_ms"] == pytest.approx(505, abs=1) and timed["p95_ms"] == pytest.approx(950.5, abs=1)
    assert functions["idle"]["total"] == 0 and functions["idle"]["p50_ms"] is None
    assert len(queries.captured_queries) <= 5  # session, user, functions, counts, durations


def test_events_list_the_runs_each_started_with_a_cursor(api: Client, db: None) -> None:
    for n in range(3):
        Event.objects.create(id=f"ev{n}", name="dash/evt", data={"html": "<script>x</script>"}, ts=n)
    Run.objects.bulk_create([run_row("ev1-a", event_id="ev1"), run_row("ev1-b", event_id="ev1", function_id="g")])
    with CaptureQueriesContext(connection) as queries:
        first = get(api, "/api/events", limit=2)
    assert len(queries.captured_queries) <= 4  # session, user, events, runs
    second = get(api, "/api/events", limit=2, cursor=first["next"])
    events = first["events"] + second["events"]
    assert [e["id"] for e in events] == ["ev2", "ev1", "ev0"] and second["next"] is None
    assert [r["id"] for r in events[1]["runs"]] == ["ev1-a", "ev1-b"]
    assert events[0]["data"] == {"html": "<script>x</script>"}  # JSON, not HTML: escaping is the page's job


def test_graph_nodes_carry_their_timestamps(api: Client, db: None) -> None:
    started = timezone.now().replace(microsecond=123456)
    Run.objects.bulk_create([run_row("ts", started_at=started, ended_at=started + timedelta(seconds=2))])
    [node] = get(api, "/api/runs/ts/graph")["nodes"]
    assert node["started_at"] == started.isoformat()[:23] + "Z"  # DjangoJSONEncoder: milliseconds, UTC as Z
    assert node["ended_at"] == (started + timedelta(seconds=2)).isoformat()[:23] + "Z"
