"""Invocation-graph analysis: pure functions over a networkx.DiGraph, no database.

Nodes are run ids with the run's fields as attributes; edges go parent -> child, with `kind` "invoke" (a
`step.invoke`, `step_id` set) or "event" (a run started by another run's `step.send_event`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from runs import causes
from runs.status import RunStatus

FAILED = RunStatus.FAILED


def build_graph(runs: Iterable[Mapping[str, Any]]) -> nx.DiGraph:
    """A graph from run rows (dicts with id, parent_run_id, parent_step_id, triggered_by_run_id, status, ...)."""
    graph = nx.DiGraph()
    rows = list(runs)
    graph.add_nodes_from((row["id"], row) for row in rows)
    graph.add_edges_from(
        (row["parent_run_id"], row["id"], {"kind": "invoke", "step_id": row.get("parent_step_id")})
        for row in rows if row.get("parent_run_id") in graph)
    graph.add_edges_from(
        (row["triggered_by_run_id"], row["id"], {"kind": "event", "step_id": None})
        for row in rows if row.get("triggered_by_run_id") in graph)
    return graph


def invoke_parent(graph: nx.DiGraph, run_id: str) -> str | None:
    for parent in graph.predecessors(run_id):
        if graph.edges[parent, run_id]["kind"] == "invoke":
            return parent
    return None


def ancestor_chain(graph: nx.DiGraph, run_id: str) -> list[str]:
    """Run ids from the root of the invocation tree down to `run_id` (invoke edges only)."""
    chain = [run_id]
    seen = {run_id}
    while (parent := invoke_parent(graph, chain[-1])) is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
    return list(reversed(chain))


def invoke_children(graph: nx.DiGraph, run_id: str) -> list[str]:
    return [child for child in graph.successors(run_id) if graph.edges[run_id, child]["kind"] == "invoke"]


def descendants(graph: nx.DiGraph, run_id: str) -> set[str]:
    """Every run below `run_id` through invoke edges (runs started by send_event are not part of it, O1b)."""
    found: set[str] = set()
    frontier = [run_id]
    while frontier:
        for child in invoke_children(graph, frontier.pop()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _rows(graph: nx.DiGraph) -> causes.Lookup:
    """The nodes' data by run id for the walk, as a plain dict (a NodeView lookup costs several times more)."""
    return dict(graph.nodes(data=True)).get


def root_cause(graph: nx.DiGraph, run_id: str) -> str | None:
    """For a failed run, the deepest run whose own code failed, following failure_cause_run_id links (O2)."""
    return causes.root_cause(run_id, causes.lookup_in(graph.nodes))


def root_causes(graph: nx.DiGraph) -> list[str]:
    """Failed runs that failed by their own code or condition, ordered by depth then id."""
    return _root_causes(graph, _rows(graph))


def _root_causes(graph: nx.DiGraph, lookup: causes.Lookup) -> list[str]:
    found = [node for node, data in graph.nodes(data=True)
             if data.get("status") == FAILED and causes.is_root_cause(node, lookup)]
    return sorted(found, key=lambda node: (graph.nodes[node].get("depth", 0), node))


def propagation_path(graph: nx.DiGraph, cause_id: str) -> list[str]:
    """From a root cause up through every ancestor that failed because of it, in order."""
    return causes.propagation_path(cause_id, causes.lookup_in(graph.nodes))


def propagation_paths(graph: nx.DiGraph) -> list[list[str]]:
    lookup = _rows(graph)
    return [causes.propagation_path(cause, lookup) for cause in _root_causes(graph, lookup)]


def critical_path(graph: nx.DiGraph, run_id: str) -> list[str]:
    """The chain of invoked runs that finished last at each level: what the run's duration waited on."""
    path = [run_id]
    while children := invoke_children(graph, path[-1]):
        path.append(max(children, key=lambda c: (_ended(graph, c), c)))
    return path


def _ended(graph: nx.DiGraph, run_id: str) -> str:
    ended = graph.nodes[run_id].get("ended_at")
    return "\uffff" if ended is None else str(ended)  # still running sorts last: it is what we wait on


def aggregate(graph: nx.DiGraph, *, focus: str | None = None, group_above: int = 20) -> nx.DiGraph:
    """A smaller graph for display: more than `group_above` invoke children of one function under one
    parent are replaced by one node per status, carrying counts. Runs on a failure's propagation path and
    the focus run's ancestors are never grouped, nor are runs that have children of their own."""
    keep: set[str] = set()
    for path in propagation_paths(graph):
        keep.update(path)
    if focus is not None and focus in graph:
        keep.update(ancestor_chain(graph, focus))
        keep.add(focus)
    grouped: set[str] = set()
    groups: list[tuple[str, str, str, list[str]]] = []  # (parent, function, status, members)
    for parent in graph.nodes:
        by_function: dict[str, list[str]] = defaultdict(list)
        for child in invoke_children(graph, parent):
            by_function[graph.nodes[child].get("function_id", "")].append(child)
        for function_id, children in by_function.items():
            if len(children) <= group_above:
                continue
            by_status: dict[str, list[str]] = defaultdict(list)
            for child in children:
                if child not in keep and graph.out_degree(child) == 0:
                    by_status[graph.nodes[child].get("status", "")].append(child)
            for status, members in by_status.items():
                groups.append((parent, function_id, status, members))
                grouped.update(members)
    # Build the smaller graph from what stays (copying all of a 10,000-run graph first costs ~100 ms).
    shown = nx.DiGraph(graph.subgraph([node for node in graph.nodes if node not in grouped]))
    for parent, function_id, status, members in groups:
        group_id = f"group:{parent}:{function_id}:{status}"
        first = graph.nodes[members[0]]
        shown.add_node(group_id, id=group_id, aggregate=True, count=len(members), status=status,
                       function_id=function_id, app_id=first.get("app_id"), parent_run_id=parent,
                       depth=first.get("depth", 0), members=sorted(members)[:50])
        shown.add_edge(parent, group_id, kind="invoke", step_id=None)
    return shown


# --- telling fanned-out siblings apart ---------------------------------------------------------------------
_SEPARATORS = "-_:./ "
_REPEAT = re.compile(r"^(?P<base>.*):(?P<n>\d+)$")  # a reused step id: id, id:1, id:2 (runs/engine/passes.py)
MAX_LABEL_CHARS = 24
_HASH = re.compile(r"[0-9a-f]{40}")


def sibling_labels(graph: nx.DiGraph) -> dict[str, str]:
    """run id -> what tells it apart from its siblings: invoke children of one parent that run the same
    function (a fan-out) get the part of their invoke step id that differs ("IMG_0003.jpg" of
    "resize-IMG_0003.jpg"), or their index ("#3") when the step ids do not say (a reused id, a hash). Runs
    with no such sibling get no label: their function's name says it all."""
    by_parent: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for source, target, data in graph.edges(data=True):
        if data.get("kind") == "invoke":
            function_id = graph.nodes[target].get("function_id", "")
            by_parent[(source, function_id)].append((target, str(data.get("step_id") or "")))
    labels: dict[str, str] = {}
    for siblings in by_parent.values():
        if len(siblings) > 1:
            labels.update(distinguishing_parts(siblings))
    return labels


def distinguishing_parts(siblings: list[tuple[str, str]]) -> dict[str, str]:
    """(run id, step id) pairs -> run id -> a short label that differs between them."""
    step_ids = [step_id for _, step_id in siblings]
    repeats = [_REPEAT.match(step_id) for step_id in step_ids]
    bases = {match.group("base") if match else step_id for match, step_id in zip(repeats, step_ids, strict=True)}
    indexes = [f"#{int(match.group('n')) if match else 0}" for match in repeats]
    if len(bases) == 1 and len(set(indexes)) == len(indexes):  # one id used again and again: the index
        return {run_id: index for (run_id, _), index in zip(siblings, indexes, strict=True)}
    parts = _strip_common(step_ids)
    hashed = all(_HASH.fullmatch(step_id) for step_id in step_ids)  # an SDK's step ids: SHA-1s say nothing
    if not hashed and all(parts) and len(set(parts)) == len(parts):
        return {run_id: f"#{part}" if part.isdigit() else _shorten(part)
                for (run_id, _), part in zip(siblings, parts, strict=True)}
    # The order they were started in (run ids sort by time, runs/ids.py), or by step id when those are readable.
    order = sorted(range(len(siblings)), key=lambda i: (siblings[i][0],) if hashed else (step_ids[i], siblings[i][0]))
    return {siblings[i][0]: f"#{rank}" for rank, i in enumerate(order)}


def _strip_common(texts: list[str]) -> list[str]:
    """Each text without the prefix all share, cut at a separator so words stay whole ("IMG_0003.jpg")."""
    prefix = _cut_prefix(texts)
    return [text[len(prefix):] for text in texts]


def _cut_prefix(texts: list[str]) -> str:
    common = texts[0]
    for text in texts[1:]:
        while not text.startswith(common):
            common = common[:-1]
    if any(len(text) == len(common) for text in texts):  # a whole text is the prefix: keep a separator's worth
        common = common[:-1]
    cut = max((i + 1 for i, char in enumerate(common) if char in _SEPARATORS), default=0)
    return common[:cut]


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else "…" + text[-(MAX_LABEL_CHARS - 1):]
