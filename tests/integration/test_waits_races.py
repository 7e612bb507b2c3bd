"""An operator's action on a waiting invoke racing the engine (issue 11 item 10), on PostgreSQL with real
concurrent transactions: whichever resolves the step first wins, the other changes nothing, nobody errors out.

- "Fail the invoke" against the child's end (ending.py resolving the same step): the step ends failed by the
  operator or completed with the child's output, never both, and the refusal says it was resolved meanwhile.
- "Fail the invoke" against a cascading cancel of the parent (which locks runs before steps): a deadlock, if the
  two meet in opposite orders, is broken and the action retried; the step ends cancelled or failed by operator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from runs.exceptions import ActionRefused
from runs.ids import new_id
from runs.models import Run, Step
from runs.status import RunStatus, StepKind, StepStatus
from runs.store import actions, waits
from runs.store.ending import end_run_txn
from runs.store.rows import ParentLink, new_run
from runs.store.transient import retrying
from tests.integration.processes import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 12


def _waiting_invoke() -> tuple[Run, Run]:
    now = timezone.now()
    event = {"id": new_id(), "name": "race/start", "data": {}, "user": {}, "ts": 0}
    parent = new_run(app_id="race-app", function_id="parent", event=event, now=now)
    parent.status, parent.started_at, parent.ready_at = RunStatus.WAITING, now, None
    parent.save()
    child = new_run(app_id="race-app", function_id="child", event=event, now=now,
                    parent=ParentLink(run_id=parent.id, step_id="call", root_run_id=parent.id, depth=0))
    child.status, child.started_at, child.ready_at = RunStatus.WAITING, now, None
    child.save()
    Step.objects.create(run=parent, step_id="call", kind=StepKind.INVOKE, status=StepStatus.WAITING, attempts=1,
                        child_run_id=child.id, target="race-app/child", deadline=now + timedelta(hours=1),
                        started_at=now)
    return parent, child


def _race(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread (own connection), released together; their results or exceptions."""
    start = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            start.wait(10)
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each side got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _child_completes(child_id: str) -> None:
    def once() -> None:
        with transaction.atomic():
            child = Run.objects.select_for_update().get(id=child_id)
            end_run_txn(child, RunStatus.COMPLETED, now=timezone.now(), output="child output")
    retrying(once, "the child's end")


def test_fail_invoke_racing_the_childs_end_resolves_the_step_once() -> None:
    outcomes = set()
    for _ in range(ROUNDS):
        parent, child = _waiting_invoke()
        failed, ended = _race(lambda p=parent.id: waits.fail_invoke(p, "call", by="op"),
                              lambda c=child.id: _child_completes(c))
        assert ended is None, ended  # the engine's side never errors
        step = Step.objects.get(run_id=parent.id, step_id="call")
        if isinstance(failed, ActionRefused):  # the child's end came first
            assert "resolved meanwhile" in str(failed) or "completed, not waiting" in str(failed)
            assert (step.status, step.output, step.error) == (StepStatus.COMPLETED, "child output", None)
            outcomes.add("child first")
        else:
            assert failed == child.id, failed
            assert step.status == StepStatus.FAILED and step.error["message"].startswith("failed by operator op")
            assert step.output is None
            outcomes.add("operator first")
        assert Run.objects.get(id=parent.id).wakeups >= 1  # woken, whoever won
    assert outcomes  # (which side wins each round is up to the scheduler)


def test_fail_invoke_racing_a_cascading_cancel_neither_errors() -> None:
    for _ in range(4):  # they mostly deadlock (PostgreSQL takes a second to notice): a few rounds say enough
        parent, child = _waiting_invoke()
        failed, cancelled = _race(lambda p=parent.id: waits.fail_invoke(p, "call", by="op"),
                                  lambda p=parent.id: retrying(lambda: actions.cancel_run(p, cascade=True), "cancel"))
        assert not isinstance(cancelled, Exception), cancelled
        assert sorted(cancelled) == sorted([parent.id, child.id])
        assert failed == child.id or isinstance(failed, ActionRefused), failed
        step = Step.objects.get(run_id=parent.id, step_id="call")
        assert step.status == StepStatus.FAILED
        expected = "failed by operator" if failed == child.id else "cancelled"
        assert expected in step.error["message"], step.error
        assert Run.objects.get(id=parent.id).status == RunStatus.CANCELLED
