"""S2 and S3 at scale across the HTTP boundary: three worker processes run a mix of inngest-py fan-outs (three
parallel invokes, then a step) and chains (an invoke, a sleep, a step) while a worker is SIGKILLed every 1-2 s
and replaced. Once the kills stop every run completes with its exact result, no invoke step has two children,
and a step ran again only as often as kills can explain (a kill loses at most the calls its threads had in
flight, plus their answers not yet committed)."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db.models import Count

from runs import client
from runs.models import Run
from runs.status import TERMINAL_RUN_STATUSES
from tests.integration.effects import label_counts
from tests.integration.processes import requires_postgres, wait_until, worker_fleet
from tests.sdk_driver.registration import register_rows

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

ROOTS = 150
KILLS = 10
THREADS_PER_WORKER = 4  # RUNS_WORKER_THREADS' default: the calls one worker can have in flight
EXPECTED = {"chaos/fan": (14, 3), "chaos/chain": (26, 1)}  # output, children


def test_sdk_runs_survive_sigkills_of_workers_mid_call(tmp_path: Path, crash_app: str) -> None:
    register_rows("crash-py", crash_app, {"chaos-leaf": "chaos/leaf", "chaos-fan": "chaos/fan",
                                          "chaos-chain": "chaos/chain"}, runtime="inngest-py", retries=1)
    effects = str(tmp_path / "effects.log")
    rng = random.Random(10)
    planned = [(rng.choice(sorted(EXPECTED)), f"r{n}") for n in range(ROOTS)]
    kinds: dict[str, tuple[str, str]] = {}  # root run id -> (event name, the root label its steps record)
    with worker_fleet(tmp_path, []) as fleet:
        workers = [fleet.start("--dev") for _ in range(3)]  # the app is in dev mode: so are the workers
        for worker in workers:
            worker.wait_ready()
        kills, next_kill = 0, time.monotonic() + rng.uniform(1, 2)
        while planned or kills < KILLS:
            batch, planned = planned[:4], planned[4:]
            if batch:
                ids = client.send_many([{"name": name, "data": {"path": effects, "root": root}}
                                        for name, root in batch])
                for (name, label), event_id in zip(batch, ids, strict=True):
                    kinds.update({run.id: (name, label) for run in client.runs_for_event(event_id)})
            if kills < KILLS and time.monotonic() >= next_kill:
                victim = workers.pop(rng.randrange(len(workers)))
                victim.kill()
                workers.append(fleet.start("--dev"))
                kills += 1
                next_kill = time.monotonic() + rng.uniform(1, 2)
            time.sleep(0.4)  # about 10 roots a second for as long as the kills go on: they land on a busy fleet

        roots = list(kinds)
        assert len(roots) == ROOTS
        wait_until(lambda: not Run.objects.filter(root_run_id__in=roots)
                   .exclude(status__in=list(TERMINAL_RUN_STATUSES)).exists(),
                   180, "SDK runs still open after the kills stopped", *workers)

    runs = list(Run.objects.filter(root_run_id__in=roots))
    failed = [(run.id, run.function_id, run.error) for run in runs if run.status != "completed"]
    assert not failed, failed[:5]
    by_id = {run.id: run for run in runs}
    children = Counter(run.root_run_id for run in runs if run.parent_run_id)
    for root, (kind, _) in kinds.items():
        output, child_count = EXPECTED[kind]
        assert (by_id[root].output, children[root]) == (output, child_count), (root, kind, by_id[root].output)
    twice = (Run.objects.filter(root_run_id__in=roots, parent_run_id__isnull=False)
             .values("parent_run_id", "parent_step_id").annotate(n=Count("id")).filter(n__gt=1))
    assert not list(twice), "an invoke step has two child runs"

    counts = label_counts(effects)
    expected_labels = {f"{label}:{what}" for kind, label in kinds.values()
                       for what in (("leaf-1", "leaf-2", "leaf-3", "total") if kind == "chaos/fan"
                                    else ("leaf-5", "plus-one"))}
    assert set(counts) == expected_labels
    redone = sum(n - 1 for n in counts.values())
    assert redone <= KILLS * THREADS_PER_WORKER, (redone, [label for label, n in counts.items() if n > 1])
