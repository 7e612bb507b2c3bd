"""Bulk actions commit BULK_BATCH runs per transaction (not one commit per run), skip runs that changed since they
matched, report only committed runs, and redo a batch one run at a time when the database fails it."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from runs.models import Run
from runs.status import RunStatus
from runs.store import actions
from tests.benchmarks.scale_rows import failed_runs

FILTERS = {"app_id": "bench", "function_id": "one-step"}


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setattr(actions, "BULK_BATCH", 3)
    counted: list[int] = []
    original = BaseDatabaseWrapper.commit

    def commit(self: BaseDatabaseWrapper) -> None:
        original(self)
        counted.append(1)

    monkeypatch.setattr(BaseDatabaseWrapper, "commit", commit)
    return counted


def test_bulk_retry_commits_once_per_batch(transactional_db, commits: list[int]) -> None:
    failed_runs(7)
    commits.clear()  # the rows' insert
    first = Run.objects.order_by("created_at", "id").first()
    assert first is not None
    progress: list[tuple[int, int]] = []
    done_ids: list[str] = []
    # A run that changes after it matched is skipped without undoing the rest of its batch.
    original = actions.retry_run

    def retry_run(run_id: str, **kwargs):  # type: ignore[no-untyped-def]
        if run_id == first.id:
            Run.objects.filter(id=run_id).update(status=RunStatus.COMPLETED)
        return original(run_id, **kwargs)

    actions_retry = pytest.MonkeyPatch()
    actions_retry.setattr(actions, "retry_run", retry_run)
    try:
        done = actions.bulk_apply("retry", FILTERS, on_progress=lambda n, total: progress.append((n, total)),
                                  done_ids=done_ids)
    finally:
        actions_retry.undo()
    assert done == 6 and first.id not in done_ids and len(done_ids) == 6
    assert len(commits) == 3  # batches of 3, 3, 1: one commit each (one per run before)
    assert progress == [(3, 7), (6, 7), (7, 7)]
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 6


def test_a_slow_batch_commits_early(transactional_db, commits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    failed_runs(5)
    commits.clear()
    monkeypatch.setattr(actions, "BULK_TXN_SECONDS", 0.0)  # the clock bounds the transaction: one run each
    progress: list[int] = []
    assert actions.bulk_apply("retry", FILTERS, on_progress=lambda n, total: progress.append(n)) == 5
    assert len(commits) == 5 and progress == [1, 2, 3, 4, 5]


def test_a_batch_the_database_fails_is_redone_run_by_run(transactional_db, commits: list[int],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    failed_runs(4)
    original = actions.retry_run
    failures = []

    def retry_run(run_id: str, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:  # the first batch's first run meets a deadlock once
            failures.append(run_id)
            raise OperationalError("deadlock detected")
        return original(run_id, **kwargs)

    monkeypatch.setattr(actions, "retry_run", retry_run)
    done_ids: list[str] = []
    assert actions.bulk_apply("retry", FILTERS, done_ids=done_ids) == 4
    assert sorted(done_ids) == sorted(Run.objects.values_list("id", flat=True))
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 4
