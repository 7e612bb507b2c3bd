"""Graph analysis over networkx, no database (O1, O2)."""

from __future__ import annotations

from typing import Any

from dashboard import graph as g


def run(run_id: str, parent: str | None = None, status: str = "completed", cause: str | None = None,
        function: str = "f", depth: int = 0, ended: str | None = "2026-01-01T00:00:00", **extra: Any) -> dict:
    return {"id": run_id, "parent_run_id": parent, "parent_step_id": f"s-{run_id}" if parent else None,
            "status": status, "failure_cause_run_id": cause, "function_id": function, "depth": depth,
            "ended_at": ended, **extra}


def chain_failing_at_leaf() -> list[dict]:
    return [run("A", status="failed", cause="B"), run("B", "A", "failed", "C", depth=1),
            run("C", "B", "failed", "D", depth=2), run("D", "C", "failed", None, depth=3),
            run("N", "A", "completed", depth=1)]


def test_o1_ancestor_chain_and_descendants() -> None:
    graph = g.build_graph(chain_failing_at_leaf())
    assert g.ancestor_chain(graph, "D") == ["A", "B", "C", "D"]
    assert g.ancestor_chain(graph, "A") == ["A"]
    assert g.descendants(graph, "B") == {"C", "D"}
    assert g.descendants(graph, "A") == {"B", "C", "D", "N"}


def test_o1b_runs_started_by_send_event_are_linked_but_not_descendants() -> None:
    rows = [run("A"), run("X", triggered_by_run_id="A")]
    graph = g.build_graph(rows)
    assert graph.edges["A", "X"]["kind"] == "event"
    assert g.descendants(graph, "A") == set()
    assert g.ancestor_chain(graph, "X") == ["X"]


def test_o2_root_cause_is_the_deepest_run_whose_own_code_failed() -> None:
    graph = g.build_graph(chain_failing_at_leaf())
    assert g.root_cause(graph, "A") == "D"
    assert g.root_cause(graph, "C") == "D"
    assert g.root_cause(graph, "N") is None
    assert g.root_causes(graph) == ["D"]


def test_o2_propagation_path_goes_from_the_cause_up_to_every_ancestor_failed_by_it() -> None:
    graph = g.build_graph(chain_failing_at_leaf())
    assert g.propagation_paths(graph) == [["D", "C", "B", "A"]]


def test_o2_a_parent_that_caught_the_failure_ends_the_path() -> None:
    rows = [run("A", status="completed"), run("B", "A", "failed", None, depth=1)]
    graph = g.build_graph(rows)
    assert g.propagation_paths(graph) == [["B"]]


def test_o2_timeout_makes_the_waiting_run_its_own_root_cause() -> None:
    rows = [run("A", status="failed", cause="B"), run("B", "A", "failed", None, depth=1),
            run("C", "B", "running", depth=2, ended=None)]
    graph = g.build_graph(rows)
    assert g.root_cause(graph, "A") == "B"
    assert g.propagation_paths(graph) == [["B", "A"]]


def test_critical_path_follows_the_child_that_finished_last() -> None:
    rows = [run("A"), run("B", "A", ended="2026-01-01T00:00:01", depth=1),
            run("C", "A", ended="2026-01-01T00:00:05", depth=1), run("D", "C", ended="2026-01-01T00:00:04", depth=2)]
    assert g.critical_path(g.build_graph(rows), "A") == ["A", "C", "D"]


def test_aggregate_groups_large_sibling_sets_by_status_but_keeps_failed_paths() -> None:
    rows = [run("P", status="failed", cause="L7")]
    rows += [run(f"L{i}", "P", "failed" if i == 7 else "completed", None, "leaf", 1) for i in range(30)]
    rows += [run(f"Q{i}", "P", "cancelled", None, "leaf", 1) for i in range(30, 33)]
    shown = g.aggregate(g.build_graph(rows), group_above=20)
    groups = {n: d for n, d in shown.nodes(data=True) if d.get("aggregate")}
    counts = {d["status"]: d["count"] for d in groups.values()}
    assert counts == {"completed": 29, "cancelled": 3}
    assert "L7" in shown  # on the propagation path: always expanded
    assert shown.has_edge("P", "L7")
    assert len(shown) == 1 + 1 + len(groups)


def test_aggregate_leaves_small_sibling_sets_alone() -> None:
    rows = [run("P")] + [run(f"L{i}", "P", function="leaf", depth=1) for i in range(5)]
    shown = g.aggregate(g.build_graph(rows), group_above=20)
    assert set(shown.nodes) == {"P", *(f"L{i}" for i in range(5))}
