"""Large invocation trees inserted directly as Run rows (test and benchmark setup, not engine behaviour)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from runs.models import Run
from runs.status import RunStatus


def run_row(run_id: str, *, app_id: str = "tree-app", function_id: str = "node", root_run_id: str | None = None,
            created_at: datetime | None = None, **fields: Any) -> Run:
    """An unsaved Run with the required columns filled in; `fields` sets any other column."""
    now = created_at or timezone.now()
    values: dict[str, Any] = {
        "status": RunStatus.COMPLETED, "event_id": f"evt-{run_id}", "event_name": "tree/event",
        "event_ts": int(now.timestamp() * 1000), "started_at": now, "ended_at": now + timedelta(milliseconds=5),
        **fields,
    }
    return Run(id=run_id, app_id=app_id, function_id=function_id, root_run_id=root_run_id or run_id,
               created_at=now, **values)


def wide_tree(root_id: str, *, mids: int, leaves_per_mid: int, failing_leaf: bool = True) -> list[str]:
    """root -> `mids` x "mid" -> `leaves_per_mid` x "leaf" each (1 + mids * (1 + leaves_per_mid) runs).

    With `failing_leaf`, the first leaf of the first mid failed by its own code and the failure propagated
    to its mid and the root (failure_cause_run_id links), like the engine records it. Returns
    [root, first mid, first leaf].
    """
    now = timezone.now()
    mid0, leaf0 = f"{root_id}m0", f"{root_id}m0l0"
    failed: dict[str, Any] = {"status": RunStatus.FAILED, "error": {"name": "KeyError", "message": "'n'", "stack": "..."}}
    rows = [run_row(root_id, function_id="root", created_at=now,
                    **({**failed, "failure_cause_run_id": mid0} if failing_leaf else {}))]
    for m in range(mids):
        mid_id = f"{root_id}m{m}"
        extra: dict[str, Any] = {**failed, "failure_cause_run_id": leaf0} if failing_leaf and m == 0 else {}
        rows.append(run_row(mid_id, function_id="mid", root_run_id=root_id, parent_run_id=root_id,
                            parent_step_id=f"call-mid-{m}", depth=1, created_at=now, **extra))
        for n in range(leaves_per_mid):
            leaf_id = f"{root_id}m{m}l{n}"
            extra_leaf = failed if failing_leaf and leaf_id == leaf0 else {}
            rows.append(run_row(leaf_id, function_id="leaf", root_run_id=root_id, parent_run_id=mid_id,
                                parent_step_id=f"call-leaf-{n}", depth=2, created_at=now, **extra_leaf))
    Run.objects.bulk_create(rows, batch_size=2000)
    return [root_id, mid0, leaf0]
