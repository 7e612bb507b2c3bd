"""The audit trail of operator actions (O6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runs.models import OperatorAction


def record_action(*, user: Any, action: str, run_ids: Sequence[str], outcome: str = "done", detail: str = "",
                  filters: dict[str, Any] | None = None, total: int = 0, processed: int = 0) -> OperatorAction:
    """Write who did what to which runs, and how it went. `user` is a Django user or a name."""
    is_user = hasattr(user, "get_username")
    return OperatorAction.objects.create(
        user=user if is_user and user.is_authenticated else None,
        username=user.get_username() if is_user else str(user), action=action, run_ids=list(run_ids),
        outcome=outcome, detail=detail[:2000], filters=filters, total=total, processed=processed)


def progress(action: OperatorAction, processed: int, total: int) -> None:
    OperatorAction.objects.filter(id=action.id).update(processed=processed, total=total)


MAX_RUN_IDS = 1000  # a bulk action names at most this many runs (the count is in `processed`)


def finish(action: OperatorAction, *, outcome: str, processed: int, detail: str = "",
           run_ids: Sequence[str] | None = None) -> None:
    fields: dict[str, Any] = {"outcome": outcome, "processed": processed, "detail": detail[:2000]}
    if run_ids is not None:
        fields["run_ids"] = list(run_ids[:MAX_RUN_IDS])
    OperatorAction.objects.filter(id=action.id).update(**fields)


def actions_for_run(run_id: str, limit: int = 50) -> list[OperatorAction]:
    """Actions that named this run (JSON containment is not portable: filter the recent ones in Python)."""
    recent = OperatorAction.objects.order_by("-created_at")[:2000]
    return [action for action in recent if run_id in (action.run_ids or [])][:limit]
