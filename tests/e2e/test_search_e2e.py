"""Searching runs in real Chromium (issue 11 item 7): the runs page's event-data box finds runs by key=value,
the search box by a run id prefix, and the pager walks older and newer pages of the chosen size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from runs.models import Run
from tests.benchmarks.trees import run_row
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows


def shown(page: Page) -> list[str]:
    return [str(tr.get_attribute("data-run-id")) for tr in page.locator("#runs-table tbody tr[data-run-id]").all()]


def test_search_by_event_data_and_by_run_id_prefix(operator_page: Page, e2e_rows: LiveServer) -> None:
    page, now = operator_page, timezone.now()
    Run.objects.bulk_create([
        run_row("SRCHe2eA1", function_id="e2e-billing", event_data={"customer": 42}, created_at=now),
        run_row("SRCHe2eA2", function_id="e2e-billing", event_data={"customer": "42"},
                created_at=now - timedelta(seconds=1)),
        run_row("SRCHe2eB1", function_id="e2e-billing", event_data={"customer": 7},
                created_at=now - timedelta(seconds=2)),
        *[run_row(f"PAGEe2e{n:02d}", function_id="e2e-pager", created_at=now - timedelta(minutes=1, seconds=n))
          for n in range(12)],
    ])
    page.goto(f"{e2e_rows.url}/runs/")
    page.locator("#run-filters input[name=data]").fill("customer=42")
    page.locator("#run-filters input[name=data]").press("Enter")
    page.wait_for_url("**data=customer%3D42**")
    assert shown(page) == ["SRCHe2eA1"]  # the number 42, not the string "42"
    assert page.locator("#runs-total").inner_text().strip() == "about 1 run"

    page.locator("#run-filters input[name=data]").fill("")
    page.locator("#run-filters input[name=q]").fill("SRCHe2eA")
    page.locator("#run-filters input[name=q]").press("Enter")
    page.wait_for_url("**q=SRCHe2eA**")
    assert shown(page) == ["SRCHe2eA1", "SRCHe2eA2"]
    assert page.locator("#runs-total").inner_text().strip() == "about 2 runs"

    # Page size and both directions of the pager.
    page.goto(f"{e2e_rows.url}/runs/?q=e2e-pager&page_size=10")
    assert shown(page) == [f"PAGEe2e{n:02d}" for n in range(10)]
    assert page.locator("#runs-total").inner_text().strip() == "about 12 runs"
    with page.expect_navigation():
        page.locator("a[rel=next]").click()
    assert shown(page) == ["PAGEe2e10", "PAGEe2e11"]
    with page.expect_navigation():
        page.locator("a[rel=prev]").click()
    assert shown(page) == [f"PAGEe2e{n:02d}" for n in range(10)]
    assert page.locator("a[rel=prev]").count() == 0
