"""Issue 10: one invocation graph across runtimes. Native Python functions (tests/sdk/native_functions.py) and the
official SDK apps (inngest@3, inngest@4, inngest-py) invoke each other in every direction, over real HTTP
against a live Tributary; each chain completes, its runs are ONE tree (parent_run_id, one root_run_id), the
dashboard's graph JSON (the endpoint the run page draws from, read with an API token) has every run of the tree
with its invoke edges, each run's runtime shows, and a failure's root cause walks down across runtimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tests.sdk.harness import MODES, SdkAppProcess, TributaryServer, send, wait_run
from tests.sdk.probing import dashboard_get, synced

NATIVE_APP = "native-app"
NATIVE = "python"  # runs.remote.RUNTIME_NATIVE
JS = "inngest-js"
PY = "inngest-py"


def tree_of(root_id: str) -> list[Any]:
    """Every run of the tree under `root_id`, in depth order; asserts the links make one tree."""
    from runs.models import Run

    runs = list(Run.objects.filter(root_run_id=root_id).order_by("depth", "created_at"))
    ids = {run.id for run in runs}
    assert runs and runs[0].id == root_id and runs[0].parent_run_id is None, runs
    for run in runs[1:]:
        assert run.parent_run_id in ids, (run.id, run.parent_run_id, ids)
    return runs


def chain(runs: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(app id, function id, status) of each run, root first."""
    return [(run.app_id, run.function_id, run.status) for run in runs]


def assert_graph_is_the_tree(server: TributaryServer, token: str, runs: list[Any],
                             runtimes: list[str]) -> dict[str, Any]:
    """The graph JSON of the root (what the run page fetches) has exactly the tree's runs as nodes and one invoke
    edge per parent -> child, with the invoking step; and the dashboard's runs list shows each run's runtime."""
    root = runs[0]
    graph = dashboard_get(server, token, f"/api/runs/{root.id}/graph")
    assert (graph["root_run_id"], graph["size"], graph["aggregated"]) == (root.id, len(runs), False), graph
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert set(nodes) == {run.id for run in runs}, graph
    for run in runs:
        assert (nodes[run.id]["app_id"], nodes[run.id]["function_id"], nodes[run.id]["parent_id"]) == (
            run.app_id, run.function_id, run.parent_run_id), nodes[run.id]
    edges = sorted((edge["source"], edge["target"], edge["kind"], edge["step_id"]) for edge in graph["edges"])
    assert edges == sorted((run.parent_run_id, run.id, "invoke", run.parent_step_id) for run in runs[1:]), graph

    listed = {row["id"]: row for row in dashboard_get(server, token, "/api/runs?limit=200")["runs"]}
    assert [listed[run.id]["runtime"] for run in runs] == runtimes, [listed.get(run.id) for run in runs]
    return graph


@pytest.mark.parametrize("kind", ["js3", "js4"])
@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_ts_invokes_a_native_python_function_as_one_tree(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str, kind: str,
        mode: str) -> None:
    [app] = synced(sdk_app, kind)

    run = wait_run(tributary_server, send(tributary_server, "probe/invoke-native"),
                   app.function_id("probe-invoke-native"))
    assert (run["status"], run["output"]) == ("Completed", {"result": 25}), (run, app.log()[-3000:])

    runs = tree_of(run["run_id"])
    assert chain(runs) == [("ts-app", "probe-invoke-native", "completed"), (NATIVE_APP, "native-square", "completed")]
    assert runs[1].output == {"result": 25}
    assert_graph_is_the_tree(tributary_server, api_token, runs, [JS, NATIVE])


@pytest.mark.parametrize("kind", ["js3", "js4"])
@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_native_invokes_ts_main_function_which_invokes_ts_compute_square_three_levels_two_runtimes(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str, kind: str,
        mode: str) -> None:
    [app] = synced(sdk_app, kind)

    run = wait_run(tributary_server, send(tributary_server, "native/invokes-ts"),
                   f"{NATIVE_APP}-native-invokes-ts")
    assert (run["status"], run["output"]) == ("Completed", "Square of 4 is 16."), (run, app.log()[-3000:])

    runs = tree_of(run["run_id"])
    assert chain(runs) == [(NATIVE_APP, "native-invokes-ts", "completed"), ("ts-app", "main-function", "completed"),
                           ("ts-app", "compute-square", "completed")]
    assert [r.depth for r in runs] == [0, 1, 2]
    assert (runs[1].parent_run_id, runs[2].parent_run_id) == (runs[0].id, runs[1].id)
    assert (runs[1].output, runs[2].output) == ("Square of 4 is 16.", {"result": 16})
    assert_graph_is_the_tree(tributary_server, api_token, runs, [NATIVE, JS, JS])


@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_inngest_py_invokes_the_ts_app_by_id_as_one_tree(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str, mode: str) -> None:
    py, ts = synced(sdk_app, "py", "js4")

    run = wait_run(tributary_server, send(tributary_server, "probe/invoke-ts"), py.function_id("probe-invoke-ts"))
    assert (run["status"], run["output"]) == ("Completed", {"result": 49}), (run, py.log()[-3000:], ts.log()[-2000:])

    runs = tree_of(run["run_id"])
    assert chain(runs) == [("py-app", "probe-invoke-ts", "completed"), ("ts-app", "compute-square", "completed")]
    assert runs[1].output == {"result": 49}
    assert_graph_is_the_tree(tributary_server, api_token, runs, [PY, JS])


@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_ts_invokes_the_inngest_py_app_by_reference_as_one_tree(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str, mode: str) -> None:
    ts, py = synced(sdk_app, "js4", "py")

    run = wait_run(tributary_server, send(tributary_server, "probe/invoke-py"), ts.function_id("probe-invoke-py"))
    assert (run["status"], run["output"]) == ("Completed", {"result": 64}), (run, ts.log()[-3000:], py.log()[-2000:])

    runs = tree_of(run["run_id"])
    assert chain(runs) == [("ts-app", "probe-invoke-py", "completed"), ("py-app", "compute-square", "completed")]
    assert runs[1].output == {"result": 64}
    assert_graph_is_the_tree(tributary_server, api_token, runs, [JS, PY])


@pytest.mark.parametrize("kind", ["js3", "js4"])
@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_a_native_root_failing_through_ts_names_the_ts_leaf_as_its_root_cause(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str, kind: str,
        mode: str) -> None:
    """native-ts-chain -> TS probe-chain -> TS probe-leaf-fails: the leaf's NonRetriableError("leaf broke") fails
    the chain, the chain's invoke fails the native root; the root cause of the root is the TS leaf."""
    from runs.models import Run

    [app] = synced(sdk_app, kind)

    run = wait_run(tributary_server, send(tributary_server, "native/ts-chain"), f"{NATIVE_APP}-native-ts-chain")
    assert run["status"] == "Failed", (run, app.log()[-3000:])

    runs = tree_of(run["run_id"])
    assert chain(runs) == [(NATIVE_APP, "native-ts-chain", "failed"), ("ts-app", "probe-chain", "failed"),
                           ("ts-app", "probe-leaf-fails", "failed")]
    root, middle, leaf = runs
    assert (root.failure_cause_run_id, middle.failure_cause_run_id, leaf.failure_cause_run_id) == (
        middle.id, leaf.id, None)
    assert leaf.error["message"] == "leaf broke", leaf.error
    # The walk from the root, as the store does it, ends at the leaf.
    walked, seen = root, set()
    while walked.failure_cause_run_id and walked.id not in seen:
        seen.add(walked.id)
        walked = Run.objects.get(id=walked.failure_cause_run_id)
    assert walked.id == leaf.id

    graph = assert_graph_is_the_tree(tributary_server, api_token, runs, [NATIVE, JS, JS])
    assert graph["root_causes"] == [leaf.id], graph
    assert graph["propagation"] == [[leaf.id, middle.id, root.id]], graph

    listed = {row["id"]: row for row in dashboard_get(tributary_server, api_token, "/api/runs?root_only=1")["runs"]}
    cause = listed[root.id]["root_cause"]
    assert (cause["run_id"], cause["app_id"], cause["function_id"], cause["error"]["message"]) == (
        leaf.id, "ts-app", "probe-leaf-fails", "leaf broke"), cause
    assert (listed[root.id]["tree_size"], listed[root.id]["runtime"]) == (3, NATIVE), listed[root.id]


def test_the_graph_json_names_each_nodes_runtime(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], api_token: str) -> None:
    [app] = synced(sdk_app, "js4")
    run = wait_run(tributary_server, send(tributary_server, "native/invokes-ts"), f"{NATIVE_APP}-native-invokes-ts")
    assert run["status"] == "Completed", (run, app.log()[-3000:])

    graph = dashboard_get(tributary_server, api_token, f"/api/runs/{run['run_id']}/graph")
    by_function = {node["function_id"]: node.get("runtime") for node in graph["nodes"]}
    assert by_function == {"native-invokes-ts": NATIVE, "main-function": JS, "compute-square": JS}, graph
