"""The audit trail of operator actions (O6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from runs.models import OperatorAction, OperatorActionRun

MAX_RUN_IDS = 1000  # a bulk action's record names at most this many runs (the count is in `processed`)
RUN_ID_LENGTH = OperatorActionRun._meta.get_field("run_id").max_length or 32
LINK_BATCH = 1000


def record_action(*, user: Any, action: str, run_ids: Sequence[str], outcome: str = "done", detail: str = "",
                  filters: dict[str, Any] | None = None, total: int = 0, processed: int = 0) -> OperatorAction:
    """Write who did what to which runs, and how it went. `user` is a Django user or a name."""
    is_user = hasattr(user, "get_username")
    with transaction.atomic():
        record = OperatorAction.objects.create(
            user=user if is_user and user.is_authenticated else None,
            username=user.get_username() if is_user else str(user), action=action, run_ids=list(run_ids),
            outcome=outcome, detail=detail[:2000], filters=filters, total=total, processed=processed)
        _link(record.id, run_ids)
    return record


def progress(action: OperatorAction, processed: int, total: int) -> None:
    OperatorAction.objects.filter(id=action.id).update(processed=processed, total=total)


def finish(action: OperatorAction, *, outcome: str, processed: int, detail: str = "",
           run_ids: Sequence[str] | None = None) -> None:
    """Close a (bulk) record. New run_ids replace the named runs: the JSON keeps the first MAX_RUN_IDS for
    display, the join table names every one, so each run's page lists the action."""
    fields: dict[str, Any] = {"outcome": outcome, "processed": processed, "detail": detail[:2000]}
    with transaction.atomic():
        if run_ids is not None:
            fields["run_ids"] = list(run_ids[:MAX_RUN_IDS])
            OperatorActionRun.objects.filter(action_id=action.id).delete()
            _link(action.id, run_ids)
        OperatorAction.objects.filter(id=action.id).update(**fields)


def _link(action_id: int, run_ids: Iterable[str]) -> None:
    # An id longer than a run id names no run (a refused action on a bogus id): nothing to find it by.
    ids = dict.fromkeys(run_id for run_id in run_ids if len(run_id) <= RUN_ID_LENGTH)
    OperatorActionRun.objects.bulk_create([OperatorActionRun(action_id=action_id, run_id=run_id) for run_id in ids],
                                          batch_size=LINK_BATCH)


def actions_naming(run_id: str) -> QuerySet[OperatorAction]:
    """A queryset of the actions that named this run (indexed join), newest first."""
    return OperatorAction.objects.filter(runs_named__run_id=run_id).order_by("-id")


def actions_for_run(run_id: str, limit: int = 50) -> list[OperatorAction]:
    """Actions that named this run, newest first (ids grow with time)."""
    return list(actions_naming(run_id)[:max(0, limit)])
