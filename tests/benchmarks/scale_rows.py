"""Rows for SCALE's big operations, inserted directly (setup, not measured): an active 3-level tree to cancel,
failed runs to retry in bulk, and clones of one sleeping run. Each mirrors what the engine itself stores, so
the operations measured afterwards do their real work (steps resolved, parents woken, leases checked)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs.errors import ErrorRecord
from runs.ids import new_id
from runs.models import Run, Step
from runs.status import RunStatus, StepKind, StepStatus
from tests.benchmarks.trees import run_row

BATCH = 5000
FAR = timedelta(days=1)


def _chunks(rows: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _save(runs: list[Run], steps: list[Step]) -> None:
    for chunk in _chunks(runs):
        Run.objects.bulk_create(chunk)
    for chunk in _chunks(steps):
        Step.objects.bulk_create(chunk)


def _invoke_step(parent: str, child: str, index: int, now: datetime) -> Step:
    return Step(run_id=parent, step_id=f"call-{index}", kind=StepKind.INVOKE, position=index,
                status=StepStatus.WAITING, child_run_id=child, started_at=now, attempts=1, target="bench/node",
                deadline=now + FAR)


def active_tree(size: int) -> str:
    """root -> ~sqrt(size) mids -> leaves: `size` runs, every one waiting (an invoke step per child, a sleep per
    leaf), the shape a big fan-out of fan-outs has mid-flight. Returns the root's id."""
    now = timezone.now()
    root = new_id()
    mids = max(1, int(math.sqrt(size)))
    leaves_per_mid = max(1, (size - 1 - mids) // mids)
    waiting: dict[str, Any] = {"status": RunStatus.WAITING, "ended_at": None, "ready_at": None, "app_id": "bench",
               "function_id": "node"}
    runs = [run_row(root, created_at=now, **waiting)]
    steps = []
    for m in range(mids):
        mid = f"{root[:24]}m{m}"
        runs.append(run_row(mid, root_run_id=root, parent_run_id=root, parent_step_id=f"call-{m}", depth=1,
                            created_at=now, **waiting))
        steps.append(_invoke_step(root, mid, m, now))
        for n in range(leaves_per_mid):
            leaf = f"{root[:20]}m{m}l{n}"
            runs.append(run_row(leaf, root_run_id=root, parent_run_id=mid, parent_step_id=f"call-{n}", depth=2,
                                created_at=now, **waiting))
            steps.append(_invoke_step(mid, leaf, n, now))
            steps.append(Step(run_id=leaf, step_id="nap", kind=StepKind.SLEEP, position=0, status=StepStatus.WAITING,
                              deadline=now + FAR, started_at=now, attempts=1))
    _save(runs, steps)
    return root


def failed_runs(count: int, *, function_id: str = "one-step") -> None:
    """`count` root runs of the bench function `function_id` that failed in their body (no failed step)."""
    now = timezone.now()
    error = ErrorRecord(name="ValueError", message="bench failure").to_json()
    runs = [run_row(new_id(), app_id="bench", function_id=function_id, status=RunStatus.FAILED, error=error,
                    event_name="bench/one-step", event_data={"x": i}, created_at=now, ready_at=None)
            for i in range(count)]
    _save(runs, [])


def clone_sleeping(template_id: str, count: int) -> list[str]:
    """`count - 1` copies of a sleeping run (its row and its steps, each its own root); returns all ids."""
    template = Run.objects.get(id=template_id)
    steps = list(Step.objects.filter(run_id=template_id))
    ids = [template_id]
    runs, new_steps = [], []
    for _ in range(count - 1):
        run_id = new_id()
        ids.append(run_id)
        clone = Run(**{f.attname: getattr(template, f.attname) for f in Run._meta.concrete_fields})
        clone.id = clone.root_run_id = run_id
        clone.event_id = f"evt-{run_id}"
        runs.append(clone)
        for step in steps:
            copy = Step(**{f.attname: getattr(step, f.attname) for f in Step._meta.concrete_fields})
            copy.pk, copy.run_id = None, run_id
            new_steps.append(copy)
    _save(runs, new_steps)
    return ids


def wake_all(run_ids_of: str = "sleeper") -> None:
    """Every sleeping run of `sleeper` due now, in one transaction: the timer storm."""
    now = timezone.now()
    with transaction.atomic():
        Step.objects.filter(kind=StepKind.SLEEP, status=StepStatus.WAITING).update(deadline=now)
        Run.objects.filter(function_id=run_ids_of, status=RunStatus.WAITING).update(ready_at=now)
