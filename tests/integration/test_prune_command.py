"""`manage.py prune --older-than 30d [--batch-size N] [--dry-run]`, and the hourly prune the workers do when
RUNS_PRUNE_OLDER_THAN is set (runs.store.prune.prune_if_due)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from runs.exceptions import PruneRefused
from runs.models import OperatorAction
from runs.store.prune import PruneResult, parse_age, prune_if_due
from tests.integration.prune_functions import age_tree, finished_tree, tree_ids


def prune_command(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue().strip()


def test_the_command_deletes_old_trees_prints_what_and_records_it(worker) -> None:  # O6
    old, young = finished_tree("prune/tree", runs=2), finished_tree("prune/tree", runs=2)
    age_tree(old)

    assert prune_command("--older-than", "30d", "--dry-run") == "would delete 1 trees: 2 runs, 3 steps, 2 events"
    assert tree_ids(old)
    assert not OperatorAction.objects.exists()  # a dry run is no action

    assert prune_command("--older-than", "30d", "--batch-size", "1") == "deleted 1 trees: 2 runs, 3 steps, 2 events"
    assert not tree_ids(old) and tree_ids(young)
    [record] = OperatorAction.objects.all()
    assert (record.action, record.username, record.processed) == ("prune", "manage.py prune", 2)


def test_a_young_tree_stays_at_a_shorter_age_in_hours_and_minutes(worker) -> None:
    root_id = finished_tree("prune/leaf")
    age_tree(root_id, by=timedelta(hours=2))
    assert prune_command("--older-than", "3h") == "deleted 0 trees: 0 runs, 0 steps, 0 events"
    assert prune_command("--older-than", "90m") == "deleted 1 trees: 1 runs, 1 steps, 1 events"


@pytest.mark.parametrize(("args", "message"), [
    (["--older-than", "30"], "'30' is not an age; use e.g. 30d, 12h or 90m (with a unit)"),
    (["--older-than", "thirty days"], "'thirty days' is not an age; use e.g. 30d, 12h or 90m"),
    (["--older-than", "30 fortnights"], "'30 fortnights' is not an age; use e.g. 30d, 12h or 90m"),
    (["--older-than=-5d"], "the age must be positive, not '-5d'"),
    (["--older-than", "0h"], "the age must be positive, not '0h'"),
    (["--older-than", "99999999999999y"], "'99999999999999y' is not an age; use e.g. 30d, 12h or 90m"),
    (["--older-than", "30d", "--batch-size", "0"], "the batch size must be an integer from 1 to 10000, not 0"),
    (["--older-than", "30d", "--batch-size", "10001"], "the batch size must be an integer from 1 to 10000, not 10001"),
    (["--older-than", "30d", "--batch-size", "many"], "argument --batch-size: invalid int value: 'many'"),
    ([], "the following arguments are required: --older-than"),
])
def test_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as error:
        prune_command(*args)
    assert str(error.value).endswith(message)


def test_bad_input_exits_non_zero_with_the_reason() -> None:
    finished = subprocess.run([sys.executable, "manage.py", "prune", "--older-than", "soon"], capture_output=True,
                              text=True, timeout=60, cwd=Path(__file__).resolve().parents[2], env=dict(os.environ))
    assert finished.returncode == 1
    assert "'soon' is not an age" in finished.stderr
    assert finished.stdout == ""


def test_the_worker_prunes_at_most_once_an_hour(worker, settings) -> None:  # type: ignore[no-untyped-def]
    first = finished_tree("prune/leaf")
    age_tree(first)
    now = timezone.now()
    settings.RUNS_PRUNE_OLDER_THAN = None
    assert prune_if_due(now) is None  # off by default
    assert tree_ids(first) and not OperatorAction.objects.exists()

    settings.RUNS_PRUNE_OLDER_THAN = "30d"
    assert prune_if_due(now) == PruneResult(trees=1, runs=1, steps=1, events=1)
    second = finished_tree("prune/leaf")
    age_tree(second)
    # Another worker (or the same one) within the hour: the marker says a prune started; nothing is deleted.
    assert prune_if_due(now + timedelta(minutes=59)) is None
    assert tree_ids(second)
    assert prune_if_due(now + timedelta(minutes=61)) == PruneResult(trees=1, runs=1, steps=1, events=1)
    assert not tree_ids(second)
    records = list(OperatorAction.objects.order_by("id").values_list("action", "username", "outcome", "processed"))
    assert records == [("prune", "system", "done", 1), ("prune", "system", "done", 1)]


def test_a_malformed_setting_is_a_clear_error(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RUNS_PRUNE_OLDER_THAN = "30"
    with pytest.raises(PruneRefused, match=r"RUNS_PRUNE_OLDER_THAN: '30' is not an age"):
        prune_if_due()
    assert not OperatorAction.objects.exists()


def test_ages_accept_the_sdk_units() -> None:
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("90m") == timedelta(minutes=90)
    assert parse_age("2 weeks") == timedelta(days=14)
    assert parse_age(timedelta(days=1)) == timedelta(days=1)


def test_a_worker_with_the_setting_prunes_old_trees_by_itself(transactional_db, settings,  # type: ignore[no-untyped-def]
                                                               monkeypatch) -> None:
    from runs import testing
    from tests.helpers import wait_until

    with testing.worker():
        old, young = finished_tree("prune/tree", runs=2), finished_tree("prune/tree", runs=2)
    age_tree(old)
    settings.RUNS_PRUNE_OLDER_THAN = "30d"
    monkeypatch.setattr("runs.worker.PRUNE_LOOK_SECONDS", 0.05)
    with testing.worker():
        wait_until(lambda: tree_ids(old), lambda ids: not ids, timeout=20, what="the old tree pruned by the worker")
    assert tree_ids(young)
