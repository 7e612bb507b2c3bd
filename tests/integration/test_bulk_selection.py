"""Bulk actions by selection (issue 11 item 8): `POST /api/runs/bulk` with `run_ids` instead of filters. The dry
run names the runs it would touch (only those the action can act on); applying touches exactly those, audited."""

from __future__ import annotations

import pytest
from django.test import Client

from runs.models import OperatorAction, Run
from runs.status import RunStatus
from runs.store.actions import MAX_SELECTED
from runs.testing import wait_for_run
from tests.integration.test_actions_api import csrf, operator, post, started, waiting


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    http = Client(enforce_csrf_checks=True)
    http.force_login(operator())
    http.get("/runs/")
    return http


def test_bulk_cancel_by_selection_touches_exactly_the_selected_runs(session: Client) -> None:
    selected = [started("actions/sleep") for _ in range(3)]
    left_alone = started("actions/sleep")
    failed = started("actions/break")
    for run_id in [*selected, left_alone]:
        waiting(run_id)
    assert wait_for_run(failed).status == "failed"
    headers = csrf(session)
    body = {"action": "cancel", "run_ids": [*selected, failed]}
    preview = post(session, "/api/runs/bulk", {**body, "dry_run": True}, **headers)
    assert preview.status_code == 200, preview.content
    # The failed run cannot be cancelled: it is not among the runs the action will touch.
    assert preview.json() == {"matched": 3, "run_ids": selected}
    assert Run.objects.filter(status=RunStatus.WAITING).count() == 4  # a preview changes nothing
    applied = post(session, "/api/runs/bulk", body, **headers)
    assert applied.json() == {"matched": 3, "done": 3}
    assert set(Run.objects.filter(status=RunStatus.CANCELLED).values_list("id", flat=True)) == set(selected)
    assert Run.objects.get(id=left_alone).status == RunStatus.WAITING
    entry = OperatorAction.objects.get(action="bulk_cancel")
    assert sorted(entry.run_ids) == sorted(selected) and entry.filters == {"selected": 4}
    assert (entry.total, entry.processed, entry.outcome) == (3, 3, "done")


def test_bulk_retry_by_selection(session: Client) -> None:
    failed = [started("actions/break") for _ in range(2)]
    for run_id in failed:
        assert wait_for_run(run_id).status == "failed"
    response = post(session, "/api/runs/bulk", {"action": "retry", "run_ids": failed}, **csrf(session))
    assert response.json() == {"matched": 2, "done": 2}
    for run_id in failed:
        assert wait_for_run(run_id).attempts == 2


@pytest.mark.parametrize("body", [
    {"run_ids": []}, {"run_ids": "abc"}, {"run_ids": [1, 2]}, {"run_ids": ["a/b"]}, {"run_ids": ["x" * 33]},
    {"run_ids": ["a"] * (MAX_SELECTED + 1)}, {"run_ids": ["abc"], "filters": {"function": "sleeper"}},
])
def test_bad_selections_are_400(session: Client, body: dict[str, object]) -> None:
    response = post(session, "/api/runs/bulk", {"action": "cancel", "dry_run": True, **body}, **csrf(session))
    assert response.status_code == 400 and response.json()["error"]
    assert not OperatorAction.objects.exists()


def test_a_selection_of_unknown_ids_matches_nothing(session: Client) -> None:
    response = post(session, "/api/runs/bulk", {"action": "cancel", "run_ids": ["NOSUCHRUN"], "dry_run": True},
                    **csrf(session))
    assert response.json() == {"matched": 0, "run_ids": []}


def test_a_filter_preview_lists_the_run_ids_too(session: Client) -> None:
    ids = [started("actions/sleep") for _ in range(2)]
    for run_id in ids:
        waiting(run_id)
    preview = post(session, "/api/runs/bulk", {"action": "cancel", "filters": {"function": "sleeper"},
                                               "dry_run": True}, **csrf(session))
    assert preview.json() == {"matched": 2, "run_ids": ids}


def test_only_operators_get_the_checkboxes_on_the_page_and_in_live_rows(session: Client) -> None:
    run_id = started("actions/sleep")
    viewer = Client()
    viewer.force_login(operator("viewer", allowed=False))
    for http, shown in ((session, True), (viewer, False)):
        page = http.get("/runs/", {"function": "sleeper"}).content.decode()
        rows = http.get("/partials/run-rows", {"id": run_id}).content.decode()
        assert ('id="select-all"' in page) is shown and ('data-bulk-selected=' in page) is shown
        assert (f'class="select-run" value="{run_id}"' in page) is shown
        assert (f'class="select-run" value="{run_id}"' in rows) is shown
