"""Read queries behind the dashboard pages and its JSON API. Reads only; the engine's store owns every write.

Each function loads what a page needs in a fixed, small number of queries (never one per row or per node):
the runs list adds tree sizes and root causes for the whole page at once, and an invocation graph is ONE
indexed query by root_run_id (plus one for runs that the tree's send_event steps started).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, F, Func, OuterRef, Q, Subquery, TextField, Value
from django.db.models.expressions import Window
from django.db.models.functions import Cast, RowNumber
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard import graph as analysis
from dashboard import sdk_apps
from dashboard.exceptions import BadParameter
from dashboard.params import Cursor, EventFilters, RunFilters, encode_cursor
from runs import causes as walk
from runs.domain import RunInfo, run_attempts
from runs.exceptions import RunNotFound
from runs.models import Event, Function, Run, Step
from runs.status import RunStatus, StepKind
from runs.store.reads import run_info

# A tree larger than this is shown aggregated: big sibling groups collapse into one node per status.
AGGREGATE_ABOVE = 200
GROUP_ABOVE = 20
DURATION_SAMPLE = 500  # recent ended runs per function for p50/p95
DURATION_WINDOW = timedelta(days=7)
GRAPH_FIELDS = ("id", "app_id", "function_id", "status", "parent_run_id", "parent_step_id", "root_run_id", "depth",
                "triggered_by_run_id", "failure_cause_run_id", "version")
# Timestamps of a graph come as text and are parsed only for the nodes shown: turning 20,000 timestamps of a
# 10,000-run tree into datetimes costs more than the query (an aggregated graph shows a few hundred).
LEAN_DEFER = ("event_data", "event_user", "output")  # what a list of runs never shows
GRAPH_TIMES = {"started_text": Cast("started_at", CharField()), "ended_text": Cast("ended_at", CharField()),
               # The run's function's runtime, in the same statement (the graph stays one query).
               "runtime": Subquery(Function.objects.filter(app_id=OuterRef("app_id"), function_id=OuterRef(
                   "function_id")).values("config__runtime")[:1])}


@dataclass(frozen=True, slots=True, kw_only=True)
class RootCause:
    """The deepest run whose own code failed (O2), with the step that failed in it, if one did."""

    run_id: str
    app_id: str
    function_id: str
    step_id: str | None
    error: dict[str, Any] | None
    step_name: str = ""  # the failed step's display name (SDK steps: step_id is its hash); "" for native steps


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    run: RunInfo
    tree_size: int | None  # root runs only: how many runs the invocation tree holds
    tree_failed: int | None  # root runs only: how many of them failed
    root_cause: RootCause | None  # failed runs only
    runtime: str = sdk_apps.RUNTIME_NATIVE  # of the run's function (runs.remote; a vanished function: native)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPage:
    rows: list[RunRow]
    next_cursor: str | None
    prev_cursor: str | None = None  # the newer rows before this page, when there are any
    total: int | None = None  # how many runs match, counted up to COUNT_CAP (None: not asked for)


# --- runs list -------------------------------------------------------------------------------------------


COUNT_CAP = 10_000  # beyond this the total says "more than": counting a million matches costs seconds


def list_runs(filters: RunFilters, *, cursor: Cursor | None = None, limit: int = 50,
              count: bool = False) -> RunPage:
    """Newest first, keyset-paginated on (created_at, id) both ways: stable while new runs arrive."""
    matching = Run.objects.filter(_run_conditions(filters))
    if cursor is not None and cursor.newer:  # a previous page: the `limit` oldest rows newer than the cursor
        page = list(matching.filter(_newer_than(cursor)).order_by("created_at", "id")[: limit + 1])
        newer_exist, older_exist = len(page) > limit, True
        page = page[:limit][::-1]
    else:
        runs = matching.filter(_older_than(cursor)) if cursor is not None else matching
        page = list(runs.order_by("-created_at", "-id")[: limit + 1])
        older_exist, newer_exist = len(page) > limit, cursor is not None
        page = page[:limit]
    if cursor is not None and cursor.newer and not page:  # nothing newer any more: show the first page
        return list_runs(filters, limit=limit, count=count)
    first, last = (page[0], page[-1]) if page else (None, None)
    return RunPage(
        rows=_rows_of(page),
        next_cursor=encode_cursor(last.created_at, last.id) if older_exist and last else None,
        prev_cursor=encode_cursor(first.created_at, first.id, newer=True) if newer_exist and first else None,
        total=_total(matching, page, whole=cursor is None and not older_exist) if count else None)


def _total(matching: Any, page: list[Run], *, whole: bool) -> int:
    """How many runs match, counting at most COUNT_CAP + 1 (a bounded index scan, on both databases): a first
    page that holds every match needs no count at all."""
    if whole:
        return len(page)
    return int(matching.values("id")[:COUNT_CAP + 1].count())


def run_rows(run_ids: Iterable[str]) -> list[RunRow]:
    """The runs-list rows of these runs, newest first (what the runs page's live updates re-render); ids of
    runs that do not exist are left out. Five queries whatever the number of ids."""
    page = list(Run.objects.filter(id__in=set(run_ids)).order_by("-created_at", "-id"))
    return _rows_of(page)


def _rows_of(page: list[Run]) -> list[RunRow]:
    """Tree sizes, root causes and the functions' runtimes for a page of runs at once."""
    roots = [run.id for run in page if run.parent_run_id is None]
    sizes = tree_sizes(roots)
    causes = root_causes_of([run for run in page if run.status == RunStatus.FAILED])
    runtimes = sdk_apps.runtimes((run.app_id, run.function_id) for run in page)
    return [RunRow(run=run_info(run, []), tree_size=sizes[run.id][0] if run.id in sizes else None,
                   tree_failed=sizes[run.id][1] if run.id in sizes else None, root_cause=causes.get(run.id),
                   runtime=runtimes.get((run.app_id, run.function_id), sdk_apps.RUNTIME_NATIVE))
            for run in page]


def _older_than(cursor: Cursor) -> Q:
    return Q(created_at__lt=cursor.at) | Q(created_at=cursor.at, id__lt=cursor.id)


def _newer_than(cursor: Cursor) -> Q:
    return Q(created_at__gt=cursor.at) | Q(created_at=cursor.at, id__gt=cursor.id)


def _run_conditions(filters: RunFilters) -> Q:
    where = Q()
    if filters.status:
        where &= Q(status=filters.status)
    if filters.app:
        where &= Q(app_id=filters.app)
    if filters.function:
        where &= Q(function_id=filters.function)
    if filters.since:
        where &= Q(created_at__gte=timezone.now() - filters.since)
    if filters.root_only:
        where &= Q(parent_run_id__isnull=True)
    if filters.start:
        where &= Q(created_at__gte=filters.start)
    if filters.end:
        where &= Q(created_at__lt=filters.end)
    if filters.q:
        # Prefixes are case-sensitive so the btree indexes on id and event_id serve them (LIKE 'x%' under C
        # collation / varchar_pattern_ops; on SQLite a scan bounded by the other filters).
        where &= (Q(function_id=filters.q) | Q(event_name=filters.q) | Q(id__startswith=filters.q)
                  | Q(event_id__startswith=filters.q))
    for key, value in filters.data:
        where &= event_data_has(key, value)
    return where


def event_data_has(key: str, value: object) -> Q:
    """event_data holds `key` with exactly `value`. PostgreSQL: JSON containment (@>), which the GIN index of
    migration 0011 serves; SQLite has no @>, so it compares the key's value (json_extract)."""
    if connection.vendor == "postgresql":
        return Q(event_data__contains={key: value})
    # SQLite's `->` gives the key's value as minified JSON text ("42" for a string, 42 for a number), so the
    # comparison keeps JSON types apart as @> does; a list or object must equal the stored one (no subset match).
    # Escaped as Django writes JSON on SQLite (ensure_ascii), which `->` keeps.
    at = Func(F("event_data"), Value("$." + json.dumps(key)), template="(%(expressions)s)", arg_joiner=" -> ",
              output_field=TextField())
    return Q(Exact(at, Value(json.dumps(value, separators=(",", ":")))))


def tree_sizes(root_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """root run id -> (runs in its tree, failed runs in it): one grouped query for all of them."""
    ids = list(root_ids)
    if not ids:
        return {}
    rows = (Run.objects.filter(root_run_id__in=ids).values("root_run_id")
            .annotate(size=Count("id"), failed=Count("id", filter=Q(status=RunStatus.FAILED))))
    return {row["root_run_id"]: (row["size"], row["failed"]) for row in rows}


def root_causes_of(failed: Iterable[Run]) -> dict[str, RootCause]:
    """For failed runs: their root cause, following failure_cause_run_id links down their trees (runs/causes.py).

    Three queries whatever the page: the failure links of the trees involved (only runs that failed because
    of a child carry one, so this is the failure chains, not the trees), the runs of those chains, the failed
    steps of the causes.
    """
    failed = list(failed)
    if not failed:
        return {}
    links = dict(Run.objects.filter(root_run_id__in={run.root_run_id for run in failed},
                                    failure_cause_run_id__isnull=False)
                 .values_list("id", "failure_cause_run_id"))
    chain_ids = {run_id for run in failed for run_id in _linked_from(run.id, links)}
    rows = {row["id"]: row for row in Run.objects.filter(id__in=chain_ids).values(
        "id", "status", "parent_run_id", "failure_cause_run_id", "app_id", "function_id", "error", "failed_step_id")}
    lookup = walk.lookup_in(rows)
    cause_of = {run.id: found for run in failed if (found := walk.root_cause(run.id, lookup)) is not None}
    steps = failing_steps({cause_id: rows[cause_id]["failed_step_id"] for cause_id in set(cause_of.values())})
    answer: dict[str, RootCause] = {}
    for run_id, cause_id in cause_of.items():
        row = rows[cause_id]
        step_id, step_error, step_name = steps.get(cause_id, (None, None, ""))
        answer[run_id] = RootCause(run_id=cause_id, app_id=row["app_id"], function_id=row["function_id"],
                                   step_id=step_id, error=row["error"] or step_error, step_name=step_name)
    return answer


def _linked_from(run_id: str, links: dict[str, str | None]) -> list[str]:
    """The run and every run its failure links lead to: the rows the walk may need."""
    chain, seen = [run_id], {run_id}
    while (cause := links.get(chain[-1])) and cause not in seen:
        chain.append(cause)
        seen.add(cause)
    return chain


def propagation_up(cause_id: str) -> list[RunInfo]:
    """From a root cause up through each ancestor that failed because of it (O2): the tree's failed runs in
    one query, walked by runs.causes.propagation_path (the same walk as the invocation graph's)."""
    cause = Run.objects.filter(id=cause_id).defer(*LEAN_DEFER).first()
    if cause is None:
        return []
    rows = {r.id: r for r in Run.objects.filter(root_run_id=cause.root_run_id, status=RunStatus.FAILED)
            .defer(*LEAN_DEFER)}
    rows[cause.id] = cause
    links = {r.id: {"status": r.status, "parent_run_id": r.parent_run_id,
                    "failure_cause_run_id": r.failure_cause_run_id} for r in rows.values()}
    return [run_info(rows[run_id], []) for run_id in walk.propagation_path(cause.id, walk.lookup_in(links))]


def failing_steps(failed_steps: dict[str, str | None]) -> dict[str, tuple[str, dict[str, Any] | None, str]]:
    """run id -> (step id, error, display name) of the step whose failure failed the run, as the run stored it
    (Run.failed_step_id; a run whose body failed has none), in one query."""
    wanted = Q()
    for run_id, step_id in failed_steps.items():
        if step_id:
            wanted |= Q(run_id=run_id, step_id=step_id)
    if not wanted:
        return {}
    rows = Step.objects.filter(wanted).values_list("run_id", "step_id", "error", "display_name")
    return {run_id: (step_id, error, name) for run_id, step_id, error, name in rows}


def run_json(row: RunRow) -> dict[str, Any]:
    """A runs-list row as the API sends it: RunInfo without steps, plus tree_size and root_cause."""
    data = dataclasses.asdict(row.run)
    del data["steps"]
    data["tree_size"] = row.tree_size
    data["tree_failed"] = row.tree_failed
    data["root_cause"] = dataclasses.asdict(row.root_cause) if row.root_cause else None
    data["runtime"] = row.runtime
    return data


# --- invocation graph ------------------------------------------------------------------------------------


def run_graph(run_id: str, *, focus: str | None = None, group_above: int = GROUP_ABOVE,
              aggregate_above: int = AGGREGATE_ABOVE) -> dict[str, Any]:
    """The whole invocation tree of `run_id` as the graph JSON of the API contract.

    One query loads the tree (the root is found in a subquery, so asking from any run of the tree is one
    query too); one more finds the tree's send_event steps, and only if there are any, one more the runs
    they started (drawn with kind "event").
    """
    root_of_run = Run.objects.filter(id=run_id).values("root_run_id")[:1]
    tree = list(Run.objects.filter(root_run_id=Subquery(root_of_run)).values(*GRAPH_FIELDS, **GRAPH_TIMES))
    if not tree:
        raise RunNotFound(f"no run with id {run_id!r}")
    root_id = tree[0]["root_run_id"]
    focus = focus or run_id
    if not any(row["id"] == focus for row in tree):
        raise BadParameter(f"focus {focus[:40]!r} is not a run of the tree of {run_id!r}")
    triggered = runs_started_by_tree(root_id, {row["id"] for row in tree})
    full = analysis.build_graph([*tree, *triggered])
    paths = [path for path in analysis.propagation_paths(full) if full.nodes[path[0]]["root_run_id"] == root_id]
    shown = (analysis.aggregate(full, focus=focus, group_above=group_above) if len(tree) > aggregate_above
             else full)
    labels = analysis.sibling_labels(full)  # a fan-out's runs say which is which (index or step id part)
    return {
        "root_run_id": root_id,
        "focus": focus,
        "size": len(tree),
        "aggregated": shown is not full,
        "nodes": [_node_json(data, labels) for _, data in shown.nodes(data=True)],
        "edges": [{"source": source, "target": target, "kind": data["kind"], "step_id": data.get("step_id")}
                  for source, target, data in shown.edges(data=True)],
        "root_causes": [path[0] for path in paths],
        "propagation": paths,
    }


def runs_started_by_tree(root_id: str, tree_ids: set[str]) -> list[dict[str, Any]]:
    """Runs that send_event steps of the tree started (each has a tree of its own).

    Found through the tree's send_event steps (their output is the sent event ids) and the runs' event_id:
    both indexed, so the cost follows the tree, not the size of the runs table. Usually one query (no
    send_event steps: no second).
    """
    outputs = (Step.objects.filter(run__root_run_id=root_id, kind=StepKind.SEND_EVENT)
               .values_list("output", flat=True))
    # A native send_event step stores the ids as a list, inngest-js's sendEvent as {"ids": [...]}.
    id_lists = [output.get("ids") if isinstance(output, dict) else output for output in outputs]
    event_ids = {event_id for ids in id_lists if isinstance(ids, list) for event_id in ids if isinstance(event_id, str)}
    if not event_ids:
        return []
    rows = Run.objects.filter(event_id__in=event_ids, triggered_by_run_id__isnull=False).values(*GRAPH_FIELDS, **GRAPH_TIMES)
    return [row for row in rows if row["triggered_by_run_id"] in tree_ids and row["id"] not in tree_ids]


def _node_json(data: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    node = {"id": data["id"], "function_id": data.get("function_id"), "app_id": data.get("app_id"),
            "status": data.get("status"), "parent_id": data.get("parent_run_id"), "depth": data.get("depth", 0),
            "started_at": _timestamp(data.get("started_text")), "ended_at": _timestamp(data.get("ended_text")),
            "version": data.get("version"), "triggered_by": data.get("triggered_by_run_id"),
            "failure_cause_run_id": data.get("failure_cause_run_id"),
            "runtime": data.get("runtime") or sdk_apps.RUNTIME_NATIVE,
            "step_id": data.get("parent_step_id"), "label": labels.get(data["id"])}
    if data.get("aggregate"):
        node.update(aggregate=True, count=data["count"], members=data["members"],
                    member_labels={member: labels[member] for member in data["members"] if member in labels})
    return node


def _timestamp(text: str | None) -> datetime | None:
    """A timestamp read as text (PostgreSQL: '... +00', SQLite: naive UTC) as an aware datetime."""
    value = parse_datetime(text.replace(" ", "T", 1)) if text else None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


# --- functions -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionStats:
    app_id: str
    function_id: str
    trigger: str
    config: dict[str, Any]
    runtime: str  # runs.remote: "python" (native), "inngest-py", "inngest-js"
    counts: dict[str, int]  # by run status, every status present (0 when none)
    total: int
    p50_ms: float | None  # duration of recent ended runs' attempts, each its own (start -> end)
    p95_ms: float | None
    sampled: int  # how many attempts of recent runs the percentiles come from
    paused: bool = False  # an operator paused it: its runs queue, none starts (runs/store/pausing.py)


def function_stats(*, since: timedelta | None = None) -> list[FunctionStats]:
    """Every registered function with run counts by status and p50/p95 duration: three queries in all."""
    functions = list(Function.objects.order_by("app_id", "function_id"))
    runs = Run.objects.all()
    if since is not None:
        runs = runs.filter(created_at__gte=timezone.now() - since)
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for row in runs.values("app_id", "function_id", "status").annotate(n=Count("id")).order_by():
        counts[(row["app_id"], row["function_id"])][row["status"]] = row["n"]
    durations = recent_durations_ms()
    stats = []
    for function in functions:
        key = (function.app_id, function.function_id)
        by_status = {status: counts[key].get(status, 0) for status in RunStatus.values}
        sample = durations.get(key, [])
        stats.append(FunctionStats(
            app_id=function.app_id, function_id=function.function_id, trigger=function.trigger,
            config=function.config, runtime=sdk_apps.runtime_of(function.config), counts=by_status, total=sum(by_status.values()),
            p50_ms=_percentile(sample, 50), p95_ms=_percentile(sample, 95), sampled=len(sample),
            paused=function.paused))
    return stats


def recent_durations_ms() -> dict[tuple[str, str], list[float]]:
    """Attempt durations of the last DURATION_SAMPLE completed or failed runs per function (within
    DURATION_WINDOW): one query, a window function ranks them per function. Each attempt counts with its own
    duration: a run an operator retried is its attempts, not the minutes between its first start and last end."""
    rank = Window(RowNumber(), partition_by=[F("app_id"), F("function_id")], order_by=F("ended_at").desc())
    statuses = [RunStatus.COMPLETED, RunStatus.FAILED]
    rows = (Run.objects.filter(status__in=statuses, started_at__isnull=False,
                               ended_at__gte=timezone.now() - DURATION_WINDOW)
            .annotate(rank=rank).filter(rank__lte=DURATION_SAMPLE)
            .values_list("app_id", "function_id", "status", "started_at", "ended_at", "attempts_history"))
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for app_id, function_id, status, started, ended, history in rows:
        for attempt in run_attempts(history or (), status=status, started_at=started, ended_at=ended, error=None):
            if attempt.duration_ms is not None:
                found[(app_id, function_id)].append(attempt.duration_ms)
    return found


def _percentile(sample: list[float], pct: int) -> float | None:
    if not sample:
        return None
    if len(sample) == 1:
        return round(sample[0], 1)
    return round(statistics.quantiles(sample, n=100, method="inclusive")[pct - 1], 1)


# --- events ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    id: str
    name: str
    data: Any
    user: Any
    ts: int
    received_at: datetime
    sent_by_run_id: str
    runs: list[dict[str, Any]]  # id, app_id, function_id, status, created_at, ended_at of the runs it started
    replay_of: str = ""  # the event this one replayed (an operator's "Replay"), "" for others


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPage:
    rows: list[EventRow]
    next_cursor: str | None
    prev_cursor: str | None = None  # the newer events before this page, when there are any


EVENT_RUN_FIELDS = ("id", "event_id", "app_id", "function_id", "status", "created_at", "ended_at")
EVENT_RUNS_SHOWN = 20  # per event on a page: a fan-in event may start hundreds (its runs are one search away)


def list_events(filters: EventFilters | None = None, *, cursor: Cursor | None = None, limit: int = 50,
                name: str | None = None) -> EventPage:
    """Events newest first, keyset-paginated on (received_at, id) both ways, with the runs each started: two
    queries. Each filter has its index: name + time (event_name_received), time alone (-received_at), an id
    prefix (the primary key's, a pattern-ops index on PostgreSQL)."""
    filters = filters or EventFilters(name=name)
    matching = Event.objects.filter(_event_conditions(filters))
    if cursor is not None and cursor.newer:  # a previous page: the `limit` oldest events newer than the cursor
        page = list(matching.filter(Q(received_at__gt=cursor.at) | Q(received_at=cursor.at, id__gt=cursor.id))
                    .order_by("received_at", "id")[: limit + 1])
        newer_exist, older_exist = len(page) > limit, True
        page = page[:limit][::-1]
        if not page:  # nothing newer any more: the first page
            return list_events(filters, limit=limit)
    else:
        if cursor is not None:
            matching = matching.filter(Q(received_at__lt=cursor.at) | Q(received_at=cursor.at, id__lt=cursor.id))
        page = list(matching.order_by("-received_at", "-id")[: limit + 1])
        older_exist, newer_exist = len(page) > limit, cursor is not None
        page = page[:limit]
    started: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in (Run.objects.filter(event_id__in=[event.id for event in page])
                .order_by("created_at", "id").values(*EVENT_RUN_FIELDS)):
        runs = started[run.pop("event_id")]
        if len(runs) < EVENT_RUNS_SHOWN:
            runs.append(run)
    rows = [EventRow(id=event.id, name=event.name, data=event.data, user=event.user, ts=event.ts,
                     received_at=event.received_at, sent_by_run_id=event.sent_by_run_id, runs=started[event.id],
                     replay_of=event.replay_of)
            for event in page]
    first, last = (page[0], page[-1]) if page else (None, None)
    return EventPage(
        rows=rows,
        next_cursor=encode_cursor(last.received_at, last.id) if older_exist and last else None,
        prev_cursor=encode_cursor(first.received_at, first.id, newer=True) if newer_exist and first else None)


EVENT_NAMES_SHOWN = 200


def recent_event_names() -> list[str]:
    """Names to pick from in the Events filter: the functions' triggers (what operators look for), one query
    on the small functions table rather than a DISTINCT over every event."""
    triggers = Function.objects.exclude(trigger="").values_list("trigger", flat=True).distinct()
    return sorted(set(triggers))[:EVENT_NAMES_SHOWN]


def _event_conditions(filters: EventFilters) -> Q:
    where = Q()
    if filters.name:
        where &= Q(name=filters.name)
    if filters.q:
        where &= Q(id__startswith=filters.q)  # case-sensitive, so the primary key's index serves it
    if filters.start:
        where &= Q(received_at__gte=filters.start)
    if filters.end:
        where &= Q(received_at__lt=filters.end)
    return where
