"""The dashboard's JSON endpoints (issue 4 contract). Login or API token; bad parameters get 400 with a reason.

GET /api/runs, GET /api/runs/<id>/graph, GET /api/functions, GET /api/events (POST /api/events is intake),
GET /api/workers, GET /api/metrics, GET /api/incidents and /api/incidents/<id> (issue 11). GET /api/events
filters by `name`, `q` (id prefix), `from`/`to`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dashboard import incidents as incident_reads
from dashboard import metrics, params, queries
from dashboard.exceptions import BadParameter
from runs import api as runs_api
from runs.api import allow, api_login_required, as_json, error
from runs.exceptions import RunNotFound
from runs.store import workers as worker_store


def bad_parameters_are_400(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except BadParameter as exc:
            return error(400, str(exc))
        except RunNotFound as exc:
            return error(404, str(exc))

    return wrapped


@allow("GET")
@api_login_required
@bad_parameters_are_400
def list_runs(request: HttpRequest) -> JsonResponse:
    page = queries.list_runs(params.run_filters(request.GET), cursor=params.cursor(request.GET),
                             limit=params.page_size(request.GET), count=True)
    capped = page.total is not None and page.total > queries.COUNT_CAP
    return as_json({"runs": [queries.run_json(row) for row in page.rows], "next": page.next_cursor,
                    "prev": page.prev_cursor, "estimated_total": min(page.total or 0, queries.COUNT_CAP),
                    "total_capped": capped})


@allow("GET")
@api_login_required
@bad_parameters_are_400
def run_graph(request: HttpRequest, run_id: str) -> JsonResponse:
    return as_json(queries.run_graph(run_id, focus=params.run_id_param(request.GET, "focus")))


@allow("GET")
@api_login_required
@bad_parameters_are_400
def list_functions(request: HttpRequest) -> JsonResponse:
    since = request.GET.get("since", "").strip()
    stats = queries.function_stats(since=params.parse_since(since) if since else None)
    return as_json({"functions": [dataclasses.asdict(row) for row in stats]})


@allow("GET")
@api_login_required
@bad_parameters_are_400
def list_events(request: HttpRequest) -> JsonResponse:
    page = queries.list_events(params.event_filters(request.GET), cursor=params.cursor(request.GET),
                               limit=params.page_size(request.GET))
    return as_json({"events": [dataclasses.asdict(row) for row in page.rows], "next": page.next_cursor,
                    "prev": page.prev_cursor})


@csrf_exempt  # POST is authenticated by the event key (runs.api.post_events); GET by login or API token
def events(request: HttpRequest) -> JsonResponse:
    """/api/events: GET lists recent events, POST is event intake."""
    if request.method in ("GET", "HEAD"):
        return list_events(request)
    return runs_api.post_events(request)


_ALL_VALUES = {"", "0", "1", "true", "false"}


@allow("GET")
@api_login_required
def list_workers(request: HttpRequest) -> JsonResponse:
    """Live workers; `?all=1` adds the dead (with `died_at` and the runs they held) and the stopped ones."""
    flag = request.GET.get("all", "").strip().lower()
    if flag not in _ALL_VALUES:
        return error(400, "all must be 1 or 0")
    workers = worker_store.list_workers(include_gone=flag in ("1", "true"))
    return as_json({"workers": [worker_json(info) for info in workers]})


def worker_json(info: worker_store.WorkerInfo) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": info.id, "host": info.host, "pid": info.pid, "threads": info.threads, "apps": info.apps,
        "started_at": info.started_at, "last_heartbeat": info.last_heartbeat, "in_flight": info.in_flight,
        "runs_done": info.runs_done, "claim_lag_seconds": info.claim_lag_seconds, "state": info.state}
    if info.state == "dead":
        row["died_at"] = info.died_at
        row["held_runs"] = [dataclasses.asdict(run) for run in info.held]
    if info.state == "stopped":
        row["stopped_at"] = info.stopped_at
    return row


@allow("GET")
@api_login_required
@bad_parameters_are_400
def list_incidents(request: HttpRequest) -> JsonResponse:
    """Incidents, newest `last_seen` first (`?limit=`, default 100)."""
    rows = incident_reads.list_incidents(limit=params.limit(request.GET, default=incident_reads.DEFAULT_LIMIT))
    return as_json({"incidents": [incident_reads.incident_json(row) for row in rows]})


@allow("GET")
@api_login_required
@bad_parameters_are_400
def get_incident(request: HttpRequest, incident_id: str) -> JsonResponse:
    """One incident and `run_ids`, its roots still failed (newest first, at most MAX_RUN_IDS; "open" counts all)."""
    row = incident_reads.get_incident(incident_id)  # IncidentNotFound is a RunNotFound: 404
    return as_json(incident_reads.incident_json(row, run_ids=incident_reads.failed_root_ids(row.id)))


@allow("GET")
@api_login_required
@bad_parameters_are_400
def get_metrics(request: HttpRequest) -> JsonResponse:
    """The Metrics page's charts: `?window=1h|24h|7d&function=<app id>/<function id>` (dashboard/metrics.py)."""
    return as_json(metrics.chart_data(metrics.window_param(request.GET), metrics.function_param(request.GET)))
