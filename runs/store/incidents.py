"""Incidents (issue 11, item 6): a failed root run joins the incident of its root cause's signature when it ends
failed, in the transaction that ends it (runs/store/ending.py), so no page computes root causes on read.

The root cause is the one walk of runs/causes.py, over the rows it reaches (a few primary-key reads, only when a
root run fails). The incident row is locked while it counts the failure: two roots failing at once both count.
`backfill` does the same for roots that failed before incidents existed (migration 0013, `manage.py
backfill_incidents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from runs import causes, incidents
from runs.errors import ErrorRecord
from runs.limits import MAX_NAME_CHARS
from runs.models import Incident, Run
from runs.status import RunStatus

_CAUSE_FIELDS = ("id", "status", "parent_run_id", "failure_cause_run_id", "app_id", "function_id",
                 "failed_step_id", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    id: str
    app_id: str
    function_id: str
    step_id: str | None
    error_type: str
    message: str  # normalised
    sample_message: str
    cause_run_id: str


def signature_of(cause: dict[str, Any]) -> Signature:
    """The signature of a root cause's row (a mapping with app_id, function_id, failed_step_id, error, id)."""
    record = ErrorRecord.from_json(cause.get("error"))
    message = incidents.normalise_message(record.message)
    step_id = cause.get("failed_step_id") or None
    return Signature(id=incidents.signature_id(cause["app_id"], cause["function_id"], step_id, record.name, message),
                     app_id=cause["app_id"], function_id=cause["function_id"], step_id=step_id,
                     error_type=record.name[:MAX_NAME_CHARS], message=message, sample_message=record.message[:2000],
                     cause_run_id=cause["id"])


def root_cause_row(root: dict[str, Any], run_model: Any = Run) -> dict[str, Any]:
    """The root cause's row of a failed root (the root's own row when it is its own root cause)."""
    loaded: dict[str, dict[str, Any] | None] = {root["id"]: root}

    def lookup(run_id: str) -> dict[str, Any] | None:
        if run_id not in loaded:
            loaded[run_id] = run_model.objects.filter(id=run_id).values(*_CAUSE_FIELDS).first()
        return loaded[run_id]

    cause_id = causes.root_cause(root["id"], lookup) or root["id"]
    return loaded[cause_id] or root


def record_failure_txn(run: Any, *, now: datetime, error: dict[str, Any] | None, failed_step_id: str | None,
                       cause_run_id: str | None) -> str | None:
    """Inside the transaction that ended `run` failed: a root run joins its incident (returns its id); a run
    with a parent is part of its root's failure and joins nothing."""
    if run.parent_run_id:
        return None
    root = {"id": run.id, "status": RunStatus.FAILED, "parent_run_id": None, "failure_cause_run_id": cause_run_id,
            "app_id": run.app_id, "function_id": run.function_id, "failed_step_id": failed_step_id, "error": error}
    signature = signature_of(root_cause_row(root) if cause_run_id else root)
    _join_txn(signature, f"{run.app_id}/{run.function_id}", now, Incident)
    Run.objects.filter(id=run.id).update(incident_id=signature.id)
    return signature.id


def _join_txn(signature: Signature, root_function: str, when: datetime, incident_model: Any) -> None:
    """Count one failure into its incident (created at its first), under the incident row's lock."""
    locked = incident_model.objects.select_for_update()
    incident = locked.filter(id=signature.id).first()
    if incident is None:
        try:
            with transaction.atomic():  # a savepoint: another root may create the same incident first
                incident_model.objects.create(
                    id=signature.id, app_id=signature.app_id, function_id=signature.function_id,
                    step_id=signature.step_id, error_type=signature.error_type, message=signature.message,
                    sample_message=signature.sample_message, sample_run_id=signature.cause_run_id, count=1,
                    first_seen=when, last_seen=when, root_functions=[root_function],
                    buckets=incidents.count_in({}, when))
                return
        except IntegrityError:
            incident = locked.get(id=signature.id)
    incident_model.objects.filter(id=signature.id).update(
        count=incident.count + 1, last_seen=max(incident.last_seen, when), first_seen=min(incident.first_seen, when),
        sample_message=signature.sample_message, sample_run_id=signature.cause_run_id,
        root_functions=incidents.add_root_function(incident.root_functions, root_function),
        buckets=incidents.count_in(incident.buckets, when))


BACKFILL_BATCH = 500


def backfill(run_model: Any = Run, incident_model: Any = Incident) -> int:
    """Join every failed root that has no incident yet (a database from before incidents); returns how many.
    Takes the models as arguments so that a migration can pass its historical ones. One transaction per batch."""
    done = 0
    while True:
        with transaction.atomic():
            batch = list(run_model.objects.filter(parent_run_id__isnull=True, status=RunStatus.FAILED,
                                                  incident_id__isnull=True)
                         .order_by("created_at", "id").values(*_CAUSE_FIELDS, "ended_at", "created_at")
                         [:BACKFILL_BATCH])
            if not batch:
                return done
            for root in batch:
                signature = signature_of(root_cause_row(root, run_model))
                _join_txn(signature, f"{root['app_id']}/{root['function_id']}", root["ended_at"] or root["created_at"],
                          incident_model)
                run_model.objects.filter(id=root["id"]).update(incident_id=signature.id)
            done += len(batch)
