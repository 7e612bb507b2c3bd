"""O3 on a big tree: a cascading cancel past CANCEL_BATCH runs ends the tree top-down, one short transaction per
batch (runs/store/tree_cancel.py), with the result one transaction gives: every active descendant cancelled,
none failed by its cancelled child, children started meanwhile found by the next round."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import OperationalError, transaction

from runs import client
from runs.models import Run, Step
from runs.sdk import App, Context
from runs.status import ACTIVE_RUN_STATUSES, StepStatus
from runs.store import actions, tree_cancel
from runs.testing import wait_for_run
from tests.benchmarks.scale_rows import active_tree

app = App("scenario-o3-big")


@app.function(id="o3b-leaf", retries=0)
async def leaf(ctx: Context) -> int:
    await ctx.step.run("work", lambda: time.sleep(0.05))
    return 1


@app.function(id="o3b-middle", retries=0)
async def middle(ctx: Context) -> int:
    return sum(await asyncio.gather(*(ctx.step.invoke(f"leaf-{i}", function=leaf) for i in range(3))))


@app.function(id="o3b-spawner", trigger="o3b/spawn", retries=0)
async def spawner(ctx: Context) -> int:
    total = 0
    for i in range(50):  # keeps invoking children, four at a time, while the batches cancel its tree
        total += sum(await asyncio.gather(*(ctx.step.invoke(f"middle-{i}-{j}", function=middle) for j in range(4))))
    return total


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """CANCEL_BATCH of 4 (chunks of 2), and the size of every cancel_runs_txn call the batches make, recorded
    on commit."""
    monkeypatch.setattr(tree_cancel, "CANCEL_BATCH", 4)
    monkeypatch.setattr(tree_cancel, "CHUNK", 2)
    committed: list[int] = []
    original = tree_cancel.cancel_runs_txn

    def recorded(targets, **kwargs):  # type: ignore[no-untyped-def]
        size = len(targets)
        transaction.on_commit(lambda: committed.append(size))
        return original(targets, **kwargs)

    monkeypatch.setattr(tree_cancel, "cancel_runs_txn", recorded)
    return committed


def test_o3_big_tree_is_cancelled_in_committed_batches(transactional_db, small_batches: list[int]) -> None:
    root = active_tree(40)  # root, 6 mids, 5 leaves each
    total = Run.objects.filter(root_run_id=root).count()
    cancelled = actions.cancel_run(root, cascade=True, reason="big")
    assert cancelled[0] == root and len(cancelled) == len(set(cancelled)) == total
    assert set(Run.objects.filter(root_run_id=root).values_list("status", flat=True)) == {"cancelled"}
    # The root went in the first transaction; the other runs in chunks of 2, batches of at most 4 committed.
    assert small_batches and max(small_batches) <= 2 and sum(small_batches) == total - 1
    # Top-down: every waiting step (invokes and the leaves' sleeps) failed with its run, none resolved by a child.
    assert not Step.objects.filter(run__root_run_id=root, status=StepStatus.WAITING).exists()
    assert not Step.objects.filter(run__root_run_id=root, status=StepStatus.COMPLETED).exists()
    assert not Run.objects.filter(root_run_id=root, ready_at__isnull=False).exists(), "a cancelled run was woken"


def test_o3_a_slow_batch_commits_early(transactional_db, small_batches: list[int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock, not the count, bounds a transaction: with no time to spare each transaction ends one chunk."""
    monkeypatch.setattr(tree_cancel, "TXN_SECONDS", 0.0)
    commits: list[int] = []
    original = tree_cancel._cancel_for_a_while

    def counted(pending, position, reason):  # type: ignore[no-untyped-def]
        ended, following = original(pending, position, reason)
        commits.append(following - position)
        return ended, following

    monkeypatch.setattr(tree_cancel, "_cancel_for_a_while", counted)
    root = active_tree(20)
    assert len(actions.cancel_run(root, cascade=True)) == Run.objects.filter(root_run_id=root).count()
    assert commits and set(commits) <= {1, 2}  # one chunk (of 2, the last maybe 1) per transaction


def test_o3_a_batch_rolled_back_by_the_database_is_run_again(transactional_db, small_batches: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    original = tree_cancel._cancel_for_a_while
    failed: list[int] = []

    def deadlocks_once(pending, position, reason):  # type: ignore[no-untyped-def]
        ended = original(pending, position, reason)  # its work is rolled back with the error
        if not failed:
            failed.append(position)
            raise OperationalError("deadlock detected")
        return ended

    monkeypatch.setattr(tree_cancel, "_cancel_for_a_while", deadlocks_once)
    root = active_tree(20)
    total = Run.objects.filter(root_run_id=root).count()
    cancelled = actions.cancel_run(root, cascade=True)
    assert failed and len(cancelled) == len(set(cancelled)) == total
    assert set(Run.objects.filter(root_run_id=root).values_list("status", flat=True)) == {"cancelled"}


def test_o3_small_tree_stays_one_transaction(transactional_db, small_batches: list[int]) -> None:
    root = active_tree(3)  # root, 1 mid, 1 leaf: below the batch size
    assert len(actions.cancel_run(root, cascade=True)) == 3
    assert small_batches == []  # tree_cancel was not used


def test_o3_batched_cancel_races_a_parent_that_keeps_invoking(worker, small_batches: list[int]) -> None:
    [root] = client.runs_for_event(client.send("o3b/spawn"))
    deadline = time.monotonic() + 20
    # Past the batch size by far (4 middles, 3 leaves each, at a time), so the cancel goes through the batches.
    active = Run.objects.filter(root_run_id=root.id, status__in=list(ACTIVE_RUN_STATUSES))
    while Run.objects.filter(root_run_id=root.id).count() < 20 or active.count() < 9:
        assert time.monotonic() < deadline, "the tree did not grow"
        time.sleep(0.01)
    client.cancel_run(root.id, cascade=True)
    assert wait_for_run(root.id).status == "cancelled"
    worker.stop()  # every pass in flight has committed (or found its lease gone)
    runs = list(Run.objects.filter(root_run_id=root.id))
    assert small_batches, "the cancel did not go through the batches"
    assert not [r.id for r in runs if r.status in ACTIVE_RUN_STATUSES], "an active descendant survived"
    assert not [r.id for r in runs if r.status == "failed"], "no run may fail because its child was cancelled"


def test_below_walks_active_and_cancelled_nodes_only() -> None:
    children = {"r": [("a", False), ("b", True), ("f", False)], "a": [("a1", True)], "b": [("b1", True)],
                "f": [("f1", True)]}
    # "a" was cancelled by this cancel (done): its new child a1 is found. "f" finished by itself: f1 is not ours.
    assert tree_cancel.below("r", children, {"r", "a"}) == ["b", "a1", "b1"]
    assert tree_cancel.below("r", children, {"r", "a", "b", "a1", "b1"}) == []
