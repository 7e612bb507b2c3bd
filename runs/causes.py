"""The root-cause walk (O2), written once: pure functions over run rows, no database.

A run that failed because a child it invoked failed carries `failure_cause_run_id`; the root cause of a failure
is found by following those links down while the run they name is still failed, and the propagation path goes
back up, through each parent that failed because of the run below it.

The callers feed the rows: the invocation graph its nodes (dashboard/graph.py), the runs list the failure
chains it loaded in one query (dashboard/queries.py), and the operator actions rows they lock one by one
(runs/store/actions.py), so that a preview and the action itself agree on the chain the dashboard shows.
A row is any mapping with `status`, `parent_run_id` and `failure_cause_run_id`; `lookup` answers None for a run
the caller does not know (outside the rows it loaded, or gone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runs.status import RunStatus

Row = Mapping[str, Any]
Lookup = Callable[[str], Row | None]


def lookup_in(rows: Mapping[str, Row]) -> Lookup:
    """A lookup over rows by run id (a dict, or a networkx graph's `nodes`)."""
    return rows.get


def _failed(row: Row | None) -> bool:
    return row is not None and row.get("status") == RunStatus.FAILED


def root_cause(run_id: str, lookup: Lookup) -> str | None:
    """For a failed run, the deepest run whose own code failed; None for a run that did not fail.

    A link to a run that is no longer failed (retried since) ends the walk: the run holding it is then its own
    root cause, which is what a root-cause retry would execute.
    """
    row = lookup(run_id)
    if row is None or not _failed(row):
        return None
    current, seen = run_id, {run_id}
    while (cause := row.get("failure_cause_run_id")) and cause not in seen:
        below = lookup(cause)
        if below is None or not _failed(below):
            break
        current, row = cause, below
        seen.add(cause)
    return current


def is_root_cause(run_id: str, lookup: Lookup) -> bool:
    """A failed run whose failure is its own (no failed run below it caused it)."""
    return root_cause(run_id, lookup) == run_id


def propagation_path(cause_id: str, lookup: Lookup) -> list[str]:
    """From a root cause up through every ancestor that failed because of it, in order (the cause first)."""
    path = [cause_id]
    row = lookup(cause_id)
    while row is not None and (parent_id := row.get("parent_run_id")) and parent_id not in path:
        parent = lookup(parent_id)
        if parent is None or not _failed(parent) or parent.get("failure_cause_run_id") != path[-1]:
            break
        path.append(parent_id)
        row = parent
    return path
