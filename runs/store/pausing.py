"""Pausing a function (issue 11): its new runs are created as usual (queued) but nothing of it is claimed until
an operator resumes it.

The claim does the pausing (runs/store/claims.py): a due run of a paused function is *parked* instead of leased
(ready_at NULL, `paused` set, status unchanged), so it leaves the claim index and no later claim walks over it;
a worker's direct hand-offs (a child it invoked, a parent it resumed) skip paused functions too. Resuming makes
the parked runs due again, in order of arrival, and wakes the workers. Runs already executing finish their
pass; their next claim parks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from runs.exceptions import FunctionUnknown
from runs.models import Function, Run
from runs.status import ACTIVE_RUN_STATUSES
from runs.store import notify


@dataclass(frozen=True, slots=True)
class PauseChange:
    app_id: str
    function_id: str
    paused: bool
    changed: bool  # False: it already was in that state
    resumed_runs: int = 0  # resume: parked runs made due again


def set_paused(app_id: str, function_id: str, paused: bool) -> PauseChange:
    """Pause or resume a registered function; FunctionUnknown if there is none by those ids."""
    with transaction.atomic():
        # The row lock orders this with claims, which read paused functions FOR SHARE (PostgreSQL).
        function = Function.objects.select_for_update().filter(app_id=app_id, function_id=function_id).first()
        if function is None:
            raise FunctionUnknown(f"no function {function_id!r} registered in app {app_id!r}")
        changed = function.paused != paused
        if changed:
            Function.objects.filter(id=function.id).update(paused=paused)
        if paused:
            _park_txn(app_id, function_id)
            return PauseChange(app_id, function_id, paused, changed)
        return PauseChange(app_id, function_id, paused, changed, _unpark_txn(app_id, function_id))


def _park_txn(app_id: str, function_id: str) -> None:
    """Park the function's runs due now that no worker holds, in one statement: a backlog would otherwise be
    parked by claims a batch at a time. Runs due later (timers, debounce) keep their time, and they, runs held
    now and runs made due later are parked by the claim that meets them."""
    Run.objects.filter(app_id=app_id, function_id=function_id, status__in=list(ACTIVE_RUN_STATUSES),
                       ready_at__lte=timezone.now(), lease_owner__isnull=True).update(paused=True, ready_at=None)


def _unpark_txn(app_id: str, function_id: str) -> int:
    """Make the function's parked runs due, each at its creation time (they start in order of arrival, before
    runs that came after them). Cancelled ones stay as they are."""
    resumed = Run.objects.filter(app_id=app_id, function_id=function_id, paused=True,
                                 status__in=list(ACTIVE_RUN_STATUSES)).update(
        paused=False, ready_at=F("created_at"))
    Run.objects.filter(app_id=app_id, function_id=function_id, paused=True).update(paused=False)
    if resumed:
        notify.runs_ready()
    return resumed


def paused_functions() -> set[tuple[str, str]]:
    """Every paused (app id, function id): what the pages mark as paused (one indexed query)."""
    return set(Function.objects.filter(paused=True).values_list("app_id", "function_id"))


def parked_count(app_id: str, function_id: str) -> int:
    return Run.objects.filter(app_id=app_id, function_id=function_id, paused=True).count()


def function_exists(app_id: str, function_id: str) -> bool:
    return Function.objects.filter(app_id=app_id, function_id=function_id).exists()


def is_paused(app_id: str, function_id: str) -> bool:
    return Function.objects.filter(app_id=app_id, function_id=function_id, paused=True).exists()


__all__ = ["PauseChange", "function_exists", "is_paused", "parked_count", "paused_functions", "set_paused"]
