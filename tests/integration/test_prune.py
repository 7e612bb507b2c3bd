"""Data retention (runs/store/prune.py): finished trees older than the cutoff go whole (runs, steps, events,
audit links), in batches; a tree with any run still active, a young tree, and a tree an unfinished tree links
to stay; a retry that holds a run of the batch wins, a retry after the prune loses cleanly."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from runs import client, operations
from runs.exceptions import RunNotFound
from runs.models import Event, OperatorAction, OperatorActionRun, Run
from runs.status import RunStatus
from runs.store import audit
from runs.store.actions import retry_run
from runs.store.prune import PruneResult, prune
from runs.testing import wait_for_run
from tests.helpers import wait_until
from tests.integration.prune_functions import (
    age_tree,
    counts,
    finished_tree,
    rows_of,
    settled_tree,
    still_there,
    tree_ids,
)

MONTH = timedelta(days=30)
NONE_LEFT = {"runs": 0, "steps": 0, "events": 0}


def test_an_old_finished_tree_goes_whole_and_a_young_one_stays(worker) -> None:
    old = finished_tree("prune/tree", runs=2)
    young = finished_tree("prune/tree", runs=2)
    audit.record_action(user="tester", action="cancel", run_ids=[old, young], outcome="refused")
    age_tree(old)
    old_rows, young_rows = rows_of(old), rows_of(young)
    # Root and child, three steps (invoke, send_event; the child's run step), the event that started it and
    # the one its step sent.
    assert counts(old_rows) == {"runs": 2, "steps": 3, "events": 2}

    result = prune(MONTH)

    assert result == PruneResult(trees=1, runs=2, steps=3, events=2)
    assert still_there(old_rows) == NONE_LEFT
    assert still_there(young_rows) == counts(young_rows)
    # The audit record stays; only the pruned run's lookup row went with it.
    assert list(OperatorActionRun.objects.values_list("run_id", flat=True)) == [young]
    assert OperatorAction.objects.filter(action="cancel").count() == 1


def test_a_tree_with_a_run_still_waiting_is_never_cut_even_under_a_finished_root(worker) -> None:  # S5
    # The root fails when its invoke times out; the child keeps waiting for an event (S11).
    timed_out = settled_tree("prune/impatient", runs=2)
    assert Run.objects.get(id=timed_out).status == RunStatus.FAILED
    waiting_root = client.runs_for_event(client.send("prune/waiting-root"))[0].id
    wait_until(lambda: Run.objects.get(id=waiting_root).status, lambda status: status == RunStatus.WAITING)
    for root_id in (timed_out, waiting_root):
        age_tree(root_id)
    before = {root_id: rows_of(root_id) for root_id in (timed_out, waiting_root)}

    assert prune(MONTH) == PruneResult()
    for rows in before.values():
        assert still_there(rows) == counts(rows)

    # Once the child ends (long ago, too), the tree goes.
    client.send("prune/go")
    wait_until(lambda: set(Run.objects.filter(root_run_id=timed_out).values_list("status", flat=True)),
               lambda statuses: statuses == {RunStatus.FAILED, RunStatus.COMPLETED})
    wait_for_run(waiting_root)
    for root_id in (timed_out, waiting_root):
        age_tree(root_id)
    assert prune(MONTH).trees == 2
    assert not tree_ids(timed_out) and not tree_ids(waiting_root)


def test_batches_of_two_delete_all_five_trees(worker) -> None:
    roots = [finished_tree("prune/leaf") for _ in range(3)] + [finished_tree("prune/tree", runs=2) for _ in range(2)]
    for root_id in roots:
        age_tree(root_id)

    result = prune(MONTH, batch_size=2)

    assert (result.trees, result.runs) == (5, 7)
    assert not Run.objects.filter(root_run_id__in=roots).exists()


def test_a_dry_run_counts_and_deletes_nothing(worker) -> None:
    root_id = finished_tree("prune/tree", runs=2)
    age_tree(root_id)
    rows = rows_of(root_id)

    would = prune(MONTH, dry_run=True)

    assert would == PruneResult(trees=1, runs=2, steps=3, events=2, dry_run=True)
    assert still_there(rows) == counts(rows)
    assert prune(MONTH) == PruneResult(trees=1, runs=2, steps=3, events=2)


def test_a_tree_that_an_unfinished_tree_links_to_stays(worker) -> None:  # O1b
    sender = finished_tree("prune/send")
    [listener] = client.list_runs(function_id="prune-listener")
    assert listener.triggered_by_run_id == sender
    wait_until(lambda: Run.objects.get(id=listener.id).status, lambda status: status == RunStatus.WAITING)
    age_tree(sender)

    assert prune(MONTH) == PruneResult()
    assert tree_ids(sender) == {sender}

    client.send("prune/go")
    wait_for_run(listener.id)
    assert prune(MONTH).trees == 1
    assert not tree_ids(sender)
    # The listener (young) stays, and with it the event that started it, though its sender is gone.
    assert Event.objects.filter(id=listener.event_id).exists()


def test_a_rerun_in_progress_keeps_the_old_run_it_reruns(worker) -> None:  # O4
    original = client.runs_for_event(client.send("prune/waiting-root"))[0].id
    wait_until(lambda: Run.objects.get(id=original).status, lambda status: status == RunStatus.WAITING)
    operations.cancel(original)
    age_tree(original)
    rerun = operations.retry(original, mode="from_start")

    assert prune(MONTH) == PruneResult()

    operations.cancel(rerun)
    assert prune(MONTH).trees == 1
    assert not tree_ids(original) and tree_ids(rerun) == {rerun}


def test_old_events_no_run_refers_to_go(worker) -> None:
    old, young = client.send("prune/nobody-listens"), client.send("prune/nobody-listens")
    Event.objects.filter(id=old).update(received_at=Event.objects.get(id=old).received_at - timedelta(days=40))

    assert prune(MONTH) == PruneResult(events=1)
    assert set(Event.objects.values_list("id", flat=True)) == {young}


def test_a_retry_after_the_prune_loses_cleanly(worker) -> None:  # O4
    root_id = finished_tree("prune/broken")
    age_tree(root_id)
    assert prune(MONTH).trees == 1

    with pytest.raises(RunNotFound):
        retry_run(root_id)
    assert not Run.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: SQLite has one writer at a time")
def test_a_retry_holding_a_run_of_the_batch_wins_and_the_prune_does_not_wait(worker) -> None:  # O4, O5
    busy = finished_tree("prune/broken-tree", runs=2)
    idle = finished_tree("prune/broken-tree", runs=2)
    for root_id in (busy, idle):
        age_tree(root_id)
    [cause] = tree_ids(busy) - {busy}
    locked, go = threading.Event(), threading.Event()
    outcome: list[str] = []

    def operator_retries() -> None:
        try:
            with transaction.atomic():
                # What retry_run does first: lock the run (here the failed child, the chain's root cause).
                list(Run.objects.select_for_update().filter(id=cause))
                locked.set()
                outcome.append("went on" if go.wait(10) else "the prune waited for the lock")
                outcome.append(retry_run(cause))
        finally:
            connection.close()

    thread = threading.Thread(target=operator_retries)
    thread.start()
    try:
        assert locked.wait(10)
        result = prune(MONTH)  # skips the tree with a locked run rather than waiting for it (or cutting it)
    finally:
        go.set()
        thread.join(15)
    assert outcome == ["went on", cause]
    assert result.trees == 1
    assert not tree_ids(idle)
    # Retried, the child is active (then fails again, now: young): its tree stays whole.
    assert prune(MONTH) == PruneResult()
    assert tree_ids(busy) == {busy, cause}
