"""Runs that never finish, hunted with worker processes (PostgreSQL): wake-ups lost in a fan-in, the mixed
workload without faults, and the same workload while workers are SIGKILLed every 1-3 s and PostgreSQL restarts.

Rules checked (docs/behaviour.md): S2 (a finished step is never re-executed; only a step in flight
at a crash runs again; one child per invoke step), S7 (parallel invokes resolve their parent), S15 (a run is
retried, never lost).
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.db.models import Count

from runs import client
from runs.models import Run, Step
from runs.sdk.app import all_functions
from runs.status import TERMINAL_RUN_STATUSES, StepStatus
from runs.store.functions import sync_functions
from tests.integration import chaos_functions as fns
from tests.integration.effects import lines
from tests.integration.processes import WorkerFleet, requires_postgres, worker_fleet

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

ROOTS = 400
MIX = [fns.CHAIN] * 4 + [fns.FAN_OUT] * 3 + [fns.SYNC] * 3


def test_no_wakeup_lost_over_thousands_of_fan_in_resolutions(tmp_path: Path) -> None:
    """3,000 children resolve 60 parents, 50 at a time each, across 3 worker processes: every parent wakes."""
    with _fleet(tmp_path) as fleet:
        effects = str(tmp_path / "effects.log")
        event_ids = client.send_many([{"name": fns.FAN_IN, "data": {"path": effects, "width": 50}}
                                      for _ in range(60)])
        roots = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
        _wait_for_all_done(roots, 180, fleet)
        assert _outputs(roots) == {sum(n * n for n in range(50))}
        assert Run.objects.filter(root_run_id__in=roots, parent_run_id__isnull=False).count() == 3000


@pytest.mark.parametrize("repetition", range(5))
def test_mixed_workload_without_faults_finishes_every_run(tmp_path: Path, repetition: int) -> None:
    """The chaos workload with no fault at all: 400 roots, 3 workers, every run finishes (five times in a row)."""
    with _fleet(tmp_path) as fleet:
        effects = str(tmp_path / "effects.log")
        roots, kinds = _send_roots(effects, random.Random(repetition), spread_seconds=0)
        _wait_for_all_done(roots, 120, fleet)
        _assert_completed_once(roots, kinds, effects, killed=set())


def test_chaos_sigkills_and_a_postgres_restart_lose_no_run(tmp_path: Path) -> None:
    """SIGKILL a worker every 1-3 s (30 kills) and restart PostgreSQL once while 400 roots are sent; once the
    faults stop every run finishes, no invoke has two children, and only steps in flight at a kill ran twice."""
    rng = random.Random(20261205)
    effects = str(tmp_path / "effects.log")
    killed: set[int] = set()
    with _fleet(tmp_path) as fleet:
        workers = list(fleet.workers)
        pending = list(_plan_roots(effects, rng))
        roots: list[str] = []
        kinds: dict[str, str] = {}
        kills, restarted = 0, False
        started = time.monotonic()
        next_kill = started + rng.uniform(1, 3)
        while kills < 30 or pending:
            # About 7 roots a second, so that faults land on a busy fleet from the first kill to the last.
            due = min(len(pending), max(0, int((time.monotonic() - started) * 7) - len(roots)))
            for name, data, event_id in pending[:due]:
                def send(name: str = name, data: dict = data, event_id: str = event_id) -> list:
                    return client.runs_for_event(client.send(name, data, id=event_id))

                for run in _retrying(send):
                    roots.append(run.id)
                    kinds[run.id] = name
            del pending[:due]
            if kills < 30 and time.monotonic() >= next_kill:
                victim = workers.pop(rng.randrange(len(workers)))
                killed.add(victim.pid)
                victim.kill()
                workers.append(fleet.start())
                kills += 1
                next_kill = time.monotonic() + rng.uniform(1, 3)
                if kills == 15 and not restarted:
                    _restart_postgres()
                    restarted = True
            time.sleep(0.05)
        assert restarted and kills == 30 and len(roots) == ROOTS
        _wait_for_all_done(roots, 120, fleet)
        _assert_completed_once(roots, kinds, effects, killed)


# --- workload ---------------------------------------------------------------------------------------------


def _plan_roots(effects: str, rng: random.Random) -> list[tuple[str, dict, str]]:
    return [(rng.choice(MIX), {"path": effects}, f"chaos-{n}-{rng.getrandbits(32):08x}") for n in range(ROOTS)]


def _send_roots(effects: str, rng: random.Random, spread_seconds: float) -> tuple[list[str], dict[str, str]]:
    planned = _plan_roots(effects, rng)
    event_ids = client.send_many([{"name": name, "data": data, "id": event_id} for name, data, event_id in planned])
    kinds = {run.id: name for (name, _, _), event_id in zip(planned, event_ids, strict=True)
             for run in client.runs_for_event(event_id)}
    return list(kinds), kinds


# --- checks -------------------------------------------------------------------------------------------------


def _wait_for_all_done(roots: list[str], timeout: float, fleet: WorkerFleet) -> None:
    deadline = time.monotonic() + timeout
    while True:
        open_runs = _retrying(lambda: Run.objects.filter(root_run_id__in=roots)
                              .exclude(status__in=list(TERMINAL_RUN_STATUSES)).count())
        if open_runs == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{open_runs} runs never finished; {_stuck_report(roots)}")
        for worker in fleet.workers[-3:]:
            fleet.assert_alive(worker)
        time.sleep(0.1)


def _stuck_report(roots: list[str]) -> str:
    """Runs that wait although nothing of theirs waits any more: a lost wake-up."""
    stuck = []
    for run in Run.objects.filter(root_run_id__in=roots).exclude(status__in=list(TERMINAL_RUN_STATUSES)):
        waiting = Step.objects.filter(run_id=run.id, status=StepStatus.WAITING).count()
        stuck.append(f"{run.id} {run.function_id} {run.status} ready_at={run.ready_at} lease={run.lease_owner} "
                     f"waiting_steps={waiting}")
    return "\n".join(stuck[:20])


def _outputs(roots: list[str]) -> set[object]:
    return {run.output for run in Run.objects.filter(id__in=roots)}


def _assert_completed_once(roots: list[str], kinds: dict[str, str], effects: str, killed: set[int]) -> None:
    done = {run.id: run for run in Run.objects.filter(root_run_id__in=roots)}
    failed = [(run.id, run.function_id, run.error) for run in done.values() if run.status != "completed"]
    assert not failed, failed[:5]
    for root in roots:
        assert done[root].output == fns.EXPECTED_OUTPUT[kinds[root]], (root, kinds[root], done[root].output)
    twice = (Run.objects.filter(root_run_id__in=roots, parent_run_id__isnull=False)
             .values("parent_run_id", "parent_step_id").annotate(n=Count("id")).filter(n__gt=1))
    assert not list(twice), "an invoke step has two child runs"
    executions: dict[str, list[int]] = defaultdict(list)
    for label, pid in lines(effects):
        executions[label].append(int(pid))
    # A step ran again only if every earlier execution of it was in a process killed before it could commit.
    redone = {label: pids for label, pids in executions.items()
              if len(pids) > 1 and not set(pids[:-1]) <= killed}
    assert not redone, f"steps re-executed although no kill interrupted them: {list(redone.items())[:5]}"


# --- faults -------------------------------------------------------------------------------------------------


def _restart_postgres() -> None:
    """Restart the whole PostgreSQL cluster: every connection of every worker breaks mid-whatever."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   timeout=60, capture_output=True)
    connection.close()


def _retrying(read: Callable[[], object], timeout: float = 30) -> object:
    """This test process's own reads and sends, across the restart (same event id: stored once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            close_old_connections()
            connection.close()
            time.sleep(0.2)


class _fleet:
    """Three workers, each listening before the test sends anything."""

    def __init__(self, tmp_path: Path) -> None:
        self._context = worker_fleet(tmp_path, [fns.__name__])

    def __enter__(self) -> WorkerFleet:
        sync_functions(all_functions())  # the triggers must resolve when the events are sent
        fleet = self._context.__enter__()
        for worker in [fleet.start() for _ in range(3)]:
            worker.wait_ready()
        return fleet

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)
