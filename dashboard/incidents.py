"""Reads behind the Incidents page and /api/incidents (issue 11, item 6). The store wrote each incident when its
roots failed (runs/store/incidents.py), so the list is one indexed query on incidents (newest `last_seen`
first) plus one grouped count of the roots still failed, over the `run_incident` index, and two point reads for
the page's names (failing steps' display names, functions' runtimes): nothing is walked here.

"open" is the number of an incident's roots that are still failed; `count` every failure that ever joined it
(a retry that heals a root takes it out of "open", not out of `count`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from dashboard import sdk_apps
from runs import incidents
from runs.exceptions import IncidentNotFound
from runs.models import Incident, Run, Step
from runs.remote import RUNTIME_NATIVE
from runs.status import RunStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_RUN_IDS = 1000  # failed roots named by GET /api/incidents/<id> (the "open" count is exact)
SHOWN_ROOTS = 200  # roots listed on an incident's page


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRow:
    id: str
    app_id: str
    function_id: str
    step_id: str | None
    error_type: str
    message: str
    sample_message: str
    sample_run_id: str
    count: int
    open: int
    first_seen: datetime
    last_seen: datetime
    root_functions: list[str]
    hourly: list[int]  # failures per hour over the last 24 hours, oldest first (the sparkline)
    display_name: str = ""  # the failing step's readable name (an SDK step's id is a SHA-1 hash)
    runtime: str = RUNTIME_NATIVE  # of the root cause's function: Python native, inngest-py, inngest-js


def _row(incident: Incident, open_count: int, now: datetime, names: dict[tuple[str, str], str],
         runtimes: dict[tuple[str, str], str]) -> IncidentRow:
    return IncidentRow(
        id=incident.id, app_id=incident.app_id, function_id=incident.function_id, step_id=incident.step_id,
        error_type=incident.error_type, message=incident.message, sample_message=incident.sample_message,
        sample_run_id=incident.sample_run_id, count=incident.count, open=open_count, first_seen=incident.first_seen,
        last_seen=incident.last_seen, root_functions=list(incident.root_functions or []),
        hourly=incidents.series(incident.buckets, now),
        display_name=names.get((incident.sample_run_id, incident.step_id or ""), ""),
        runtime=runtimes.get((incident.app_id, incident.function_id), RUNTIME_NATIVE))


def _rows(page: list[Incident]) -> list[IncidentRow]:
    """Rows with their open counts, their failing steps' names and their functions' runtimes: three queries."""
    if not page:
        return []
    counts = _open_counts([incident.id for incident in page])
    stepped = [incident for incident in page if incident.step_id and incident.sample_run_id]
    names = {(run_id, step_id): name for run_id, step_id, name in Step.objects.filter(
        run_id__in={i.sample_run_id for i in stepped}, step_id__in={i.step_id for i in stepped})
        .exclude(display_name="").values_list("run_id", "step_id", "display_name")} if stepped else {}
    functions = sdk_apps.runtimes((incident.app_id, incident.function_id) for incident in page)
    now = timezone.now()
    return [_row(incident, counts.get(incident.id, 0), now, names, functions) for incident in page]


def _open_counts(ids: list[str]) -> dict[str, int]:
    rows = (Run.objects.filter(incident_id__in=ids, status=RunStatus.FAILED).values("incident_id")
            .annotate(n=Count("id")).order_by())
    return {str(row["incident_id"]): row["n"] for row in rows}


def list_incidents(limit: int = DEFAULT_LIMIT) -> list[IncidentRow]:
    """The newest incidents (by last failure), each with its open count, step name and runtime."""
    return _rows(list(Incident.objects.order_by("-last_seen", "id")[:limit]))


def get_incident(incident_id: str) -> IncidentRow:
    incident = Incident.objects.filter(id=incident_id).first() if incidents.is_incident_id(incident_id) else None
    if incident is None:
        raise IncidentNotFound(f"no incident with id {incident_id[:40]!r}")
    return _rows([incident])[0]


def failed_root_ids(incident_id: str, limit: int = MAX_RUN_IDS) -> list[str]:
    """The incident's roots still failed, newest first."""
    return list(Run.objects.filter(incident_id=incident_id, status=RunStatus.FAILED)
                .order_by("-created_at", "-id").values_list("id", flat=True)[:limit])


def roots(incident_id: str, limit: int = SHOWN_ROOTS) -> list[dict[str, Any]]:
    """The incident's roots for its page, newest first: still failed, or healed (retried) since."""
    rows = (Run.objects.filter(incident_id=incident_id).order_by("-created_at", "-id")
            .values("id", "app_id", "function_id", "status", "created_at", "ended_at")[:limit])
    return [dict(row) for row in rows]


def incident_json(row: IncidentRow, **extra: Any) -> dict[str, Any]:
    """The contract's fields (issue 11), then what the page shows besides."""
    return {"id": row.id, "function_id": row.function_id, "step_id": row.step_id, "error_type": row.error_type,
            "message": row.message, "count": row.count, "first_seen": row.first_seen, "last_seen": row.last_seen,
            "app_id": row.app_id, "open": row.open, "root_functions": row.root_functions,
            "sample_message": row.sample_message, "sample_run_id": row.sample_run_id, "hourly": row.hourly,
            "step_name": row.display_name or row.step_id, "runtime": row.runtime, **extra}
