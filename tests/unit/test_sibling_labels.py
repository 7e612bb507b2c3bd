"""Fanned-out siblings in the graph are told apart (issue 11 item 14): pure functions, no database."""

from __future__ import annotations

from typing import Any

from dashboard import graph as g


def child(run_id: str, step_id: str, function: str = "resize-photo", parent: str = "root") -> dict[str, Any]:
    return {"id": run_id, "parent_run_id": parent, "parent_step_id": step_id, "function_id": function,
            "status": "completed"}


def test_the_part_of_the_step_ids_that_differs_names_each_sibling() -> None:
    graph = g.build_graph([{"id": "root", "function_id": "album"},
                           *[child(f"c{n}", f"resize-IMG_{n:04d}.jpg") for n in range(30)]])
    labels = g.sibling_labels(graph)
    assert labels["c0"] == "0000.jpg" and labels["c29"] == "0029.jpg"
    assert len(set(labels.values())) == 30


def test_a_reused_step_id_gives_the_index() -> None:
    graph = g.build_graph([{"id": "root", "function_id": "sq"}, child("a", "square", "compute"),
                           child("b", "square:1", "compute"), child("c", "square:2", "compute")])
    assert g.sibling_labels(graph) == {"a": "#0", "b": "#1", "c": "#2"}


def test_numbers_read_as_an_index_and_long_parts_are_shortened() -> None:
    assert g.distinguishing_parts([("a", "fetch-user-1"), ("b", "fetch-user-2")]) == {"a": "#1", "b": "#2"}
    long = g.distinguishing_parts([("a", "x-" + "a" * 40), ("b", "x-" + "b" * 40)])
    assert all(len(label) <= g.MAX_LABEL_CHARS and label.startswith("…") for label in long.values())


def test_step_ids_that_do_not_differ_readably_fall_back_to_an_ordinal() -> None:
    # A healed invoke started a second child under the same step id: the two are still told apart.
    assert g.distinguishing_parts([("a", "call"), ("b", "call")]) == {"a": "#0", "b": "#1"}


def test_a_run_without_a_sibling_of_its_function_gets_no_label() -> None:
    graph = g.build_graph([{"id": "root", "function_id": "r"}, child("a", "call-branch", "branch"),
                           child("b", "call-leaf", "leaf"), child("c", "call-leaf-2", "leaf", parent="a")])
    assert g.sibling_labels(graph) == {}


def test_hashed_step_ids_of_an_sdk_app_give_the_order_the_runs_started_in() -> None:
    siblings = [("01B", "a" * 40), ("01A", "f" * 40), ("01C", "0" * 40)]
    assert g.distinguishing_parts(siblings) == {"01A": "#0", "01B": "#1", "01C": "#2"}
