"""The one root-cause walk (runs/causes.py, O2) that the graph, the runs list and the operator actions share."""

from __future__ import annotations

from typing import Any

from runs import causes


def rows(*runs: tuple[str, str | None, str, str | None]) -> dict[str, dict[str, Any]]:
    return {run_id: {"parent_run_id": parent, "status": status, "failure_cause_run_id": cause}
            for run_id, parent, status, cause in runs}


CHAIN = rows(("A", None, "failed", "B"), ("B", "A", "failed", "C"), ("C", "B", "failed", None),
             ("N", "A", "completed", None))


def test_o2_the_walk_goes_down_the_links_and_back_up_the_parents() -> None:
    lookup = causes.lookup_in(CHAIN)
    assert causes.root_cause("A", lookup) == "C"
    assert causes.root_cause("B", lookup) == "C"
    assert causes.root_cause("N", lookup) is None
    assert causes.root_cause("unknown", lookup) is None
    assert causes.propagation_path("C", lookup) == ["C", "B", "A"]
    assert [run for run in CHAIN if causes.is_root_cause(run, lookup)] == ["C"]


def test_o2_a_link_to_a_run_retried_since_makes_the_holder_its_own_root_cause() -> None:
    # B was retried from its failed step: queued again, its parent still names it. What a root-cause retry of A
    # would execute now is A itself (its failed invoke step invokes again), so that is what the pages show too.
    retried = rows(("A", None, "failed", "B"), ("B", "A", "queued", None))
    lookup = causes.lookup_in(retried)
    assert causes.root_cause("A", lookup) == "A"
    assert causes.is_root_cause("A", lookup)
    assert causes.propagation_path("A", lookup) == ["A"]


def test_o2_the_walk_ends_on_runs_it_was_not_given_and_on_cycles() -> None:
    partial = rows(("A", None, "failed", "B"))  # B outside the rows the caller loaded
    assert causes.root_cause("A", causes.lookup_in(partial)) == "A"
    looped = rows(("A", "B", "failed", "B"), ("B", "A", "failed", "A"))  # corrupt links must not hang the page
    assert causes.root_cause("A", causes.lookup_in(looped)) == "B"
    assert causes.propagation_path("B", causes.lookup_in(looped)) == ["B", "A"]


def test_the_walk_is_pure_it_asks_only_the_lookup_it_is_given() -> None:
    asked: list[str] = []

    def lookup(run_id: str) -> dict[str, Any] | None:
        asked.append(run_id)
        return CHAIN.get(run_id)

    assert causes.root_cause("A", lookup) == "C"
    assert asked == ["A", "B", "C"]
