"""The UI benchmark's harness (tests/benchmarks/ui.py, `manage.py bench --only UI`): the generated runs have the
shape it promises, every case answers 200 on them, and a case over budget comes with its slowest statement's
plan. PostgreSQL only (the generator is one INSERT ... SELECT over generate_series); no timing is asserted."""

from __future__ import annotations

import pytest
from django.db import connection

from runs.models import Function, Run
from runs.status import RunStatus
from tests.benchmarks import ui

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the UI benchmark generates its runs with PostgreSQL's generate_series")


def test_generated_runs_are_trees_of_three_over_a_week_with_every_status() -> None:
    ui.populate(3000)
    assert Run.objects.count() == 3000
    assert Run.objects.filter(parent_run_id__isnull=True).count() == 1000
    child = Run.objects.filter(parent_run_id__isnull=False).first()
    assert child is not None and Run.objects.get(id=child.parent_run_id).root_run_id == child.root_run_id
    statuses = set(Run.objects.values_list("status", flat=True))
    assert {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.WAITING, RunStatus.RUNNING, RunStatus.CANCELLED,
            RunStatus.QUEUED} <= statuses
    failed = Run.objects.filter(status=RunStatus.FAILED).first()
    assert failed is not None and failed.error["name"] in {"TimeoutError", "KeyError"} and failed.ended_at
    oldest, newest = Run.objects.order_by("created_at")[0], Run.objects.order_by("-created_at")[0]
    assert (newest.created_at - oldest.created_at).days == 6  # a week, minus one step
    assert Run.objects.filter(event_data__customer="c42").exists()
    assert Function.objects.count() == ui.FUNCTIONS


def test_every_case_answers_on_the_generated_runs_and_a_slow_one_brings_its_plan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ui.populate(3000)
    client = ui.operator_client()
    cases = [case for source in ui.CASE_SOURCES for case in source(client)]
    assert {"runs page", "search data key=value", "search from-to", "next page", "previous page"} <= {
        case.name for case in cases}
    for case in cases:
        result = ui.measure_case(client, case, requests=2)
        assert result["statements"] > 0 and result["p95_ms"] >= result["p50_ms"] > 0, result
    monkeypatch.setattr(ui, "BUDGET_MS", 0.0)  # everything is over budget
    monkeypatch.setattr(ui, "PLAN_ABOVE_MS", 0.0)  # and slow: the plan comes along
    slow = ui.measure_case(client, cases[0], requests=2)
    assert slow["within_budget"] is False and "Scan" in slow["plan"] and slow["slowest_statement"]
