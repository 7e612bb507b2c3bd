"""The Metrics page in real Chromium against a live `manage.py serve` (issue 11 item 12): reached from the nav,
its two uPlot charts draw canvases from GET api/metrics, the tiles count the runs of the window, the 1 h / 24 h /
7 d switch and the function selector fetch again (the URL follows), and a function without runs shows the
empty state. The runs belong to an app the server's worker does not serve, so nothing claims the backlog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from runs.models import Function, Run
from runs.status import RunStatus
from tests.benchmarks.trees import run_row
from tests.e2e.conftest import ROOT, LiveServer

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows
SCREENS = ROOT / "var" / "e2e-screens"
APP = "metrics-app"


def _runs() -> None:
    now = timezone.now()
    rows = []
    for i in range(40):  # the last hour: 40 runs of checkout, one every 80 s, every fifth failed
        start = now - timedelta(seconds=30 + 80 * i)
        status = RunStatus.FAILED if i % 5 == 0 else RunStatus.COMPLETED
        rows.append(run_row(f"mc{i}", app_id=APP, function_id="checkout", created_at=start, status=status,
                            ended_at=start + timedelta(milliseconds=80 + 40 * i)))
    for i in range(6):  # email: six runs in the hour, all completed
        start = now - timedelta(minutes=5 + 9 * i)
        rows.append(run_row(f"me{i}", app_id=APP, function_id="email", created_at=start,
                            ended_at=start + timedelta(seconds=2)))
    five_hours = now - timedelta(hours=5)
    rows += [run_row(f"md{i}", app_id=APP, function_id="email", created_at=five_hours) for i in range(3)]
    rows.append(run_row("mq1", app_id=APP, function_id="checkout", status=RunStatus.QUEUED, started_at=None,
                        ended_at=None, ready_at=now - timedelta(minutes=4)))
    Run.objects.bulk_create(rows)
    for function_id in ("checkout", "email", "idle"):
        Function.objects.create(app_id=APP, function_id=function_id, trigger=f"{APP}/{function_id}")


def _painted(page: Page, chart: str) -> int:
    """Pixels the chart's canvas drew (uPlot draws axes, grid and series onto one canvas)."""
    return int(page.evaluate("""(id) => {
        const canvas = document.querySelector(`#${id} canvas`);
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
        return painted;
    }""", chart))


def test_metrics_page_charts_switch_window_and_function(operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    server = live_server_process
    _runs()

    page.goto(f"{server.url}/runs/")
    page.click("header.top nav a:text-is('Metrics')")
    page.wait_for_url(f"{server.url}/metrics/")
    expect(page.locator("header.top nav a[aria-current=page]")).to_have_text("Metrics")
    for chart in ("chart-throughput", "chart-durations"):
        expect(page.locator(f"#{chart} canvas")).to_be_visible()
        assert _painted(page, chart) > 2000
    expect(page.locator("#chart-throughput")).to_have_attribute("data-points", "60")
    expect(page.locator("[data-total=started]")).to_have_text("46")
    expect(page.locator("[data-total=failed]")).to_have_text("8")
    expect(page.locator("[data-backlog=runs]")).to_have_text("1")
    expect(page.locator("[data-backlog=oldest_age_seconds]")).to_contain_text("min")
    expect(page.locator(".u-legend").first).to_contain_text("failed")

    page.click(".window-switch a[data-window='24h']")
    expect(page.locator(".window-switch a[aria-current]")).to_have_text("24h")
    expect(page.locator("#chart-throughput")).to_have_attribute("data-points", "144")
    expect(page.locator("[data-total=started]")).to_have_text("49")  # and the three of five hours ago
    expect(page.locator("#metrics-label")).to_contain_text("24 hours")
    assert "window=24h" in page.url
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "metrics-page.png"), full_page=True)

    page.select_option("#metrics-function", f"{APP}/email")
    expect(page.locator("[data-total=started]")).to_have_text("9")
    expect(page.locator("[data-total=failed]")).to_have_text("0")
    expect(page.locator("[data-backlog=runs]")).to_have_text("0")
    expect(page.locator("body")).to_have_attribute("data-metrics-function", f"{APP}/email")
    assert f"function={APP}%2Femail" in page.url and "window=24h" in page.url

    page.click(".window-switch a[data-window='7d']")
    expect(page.locator("#chart-throughput")).to_have_attribute("data-points", "168")
    expect(page.locator("[data-total=started]")).to_have_text("9")

    page.select_option("#metrics-function", f"{APP}/idle")  # no runs: the empty state, no canvas
    expect(page.locator("#chart-throughput ~ .chart-empty")).to_be_visible()
    expect(page.locator("#chart-durations ~ .chart-empty")).to_be_visible()
    expect(page.locator("#chart-throughput canvas")).to_have_count(0)

    page.reload()  # the URL kept the choice: the server renders the same window and function
    expect(page.locator(".window-switch a[aria-current]")).to_have_text("7d")
    expect(page.locator("#metrics-function")).to_have_value(f"{APP}/idle")

    # A refresh that fails says so and keeps the last answer.
    page.route("**/api/metrics?*", lambda route: route.fulfill(status=503, body="{}"))
    page.click(".window-switch a[data-window='1h']")
    expect(page.locator("#metrics-problem")).to_contain_text("Not refreshed")
    expect(page.locator(".window-switch a[aria-current]")).to_have_text("7d")
