"""Run metrics (issue 11 item 12): the roll-up, GET /api/metrics (buckets, percentiles, backlog, one statement per
chart) and Prometheus' GET /metrics (values, auth), with `/metrics/` the page and `/metrics` the scrape target.
Runs on PostgreSQL and SQLite (the DATABASE_URL of the test run)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from dashboard import metrics as dashboard_metrics
from runs.histograms import percentile
from runs.models import Function, Run, RunMetricsMinute, RunMetricsTotal
from runs.status import RunStatus
from runs.store import metrics, tokens
from runs.store import workers as worker_store
from tests.benchmarks.trees import run_row

pytestmark = pytest.mark.django_db
TOKEN = "metrics-scrape-token"


@pytest.fixture
def functions() -> None:
    for function_id in ("node", "other"):
        Function.objects.create(app_id="tree-app", function_id=function_id, trigger="tree/event")


def _user(client: Client, *, view: bool) -> Any:
    user = get_user_model().objects.create_user("metrics-reader", password="pw")
    if view:
        user.user_permissions.add(Permission.objects.get(codename="view_run", content_type__app_label="runs"))
    client.force_login(user)
    return user


def _ended(run_id: str, start: datetime, ms: float, status: str = RunStatus.COMPLETED, **fields: Any) -> Run:
    return run_row(run_id, created_at=start, status=status, started_at=start,
                   ended_at=start + timedelta(milliseconds=ms), **fields)


def _mid_minute(moment: datetime) -> datetime:
    """20 s into the minute of `moment`: a run that starts there and lasts a few seconds ends in the same minute."""
    return moment.replace(second=20, microsecond=0)


def _bucket(moment: datetime, bucket_minutes: int) -> int:
    """The chart's x value (epoch seconds of the bucket's start) that `moment` falls in."""
    return int(moment.timestamp() // 60) // bucket_minutes * bucket_minutes * 60


def _at(data: dict[str, Any], column: str, moment: datetime) -> Any:
    series = data["series"]
    return series[column][series["t"].index(_bucket(moment, data["bucket_seconds"] // 60))]


# --- percentiles from the histogram (pure) ----------------------------------------------------------------

def test_percentiles_interpolate_inside_the_bucket_they_fall_in() -> None:
    bounds = (10, 100, 1000)
    assert percentile([0, 0, 0, 0], bounds, 0.5) is None
    assert percentile([0, 4, 0, 0], bounds, 0.5) == pytest.approx(55.0)  # half-way through (10, 100]
    assert percentile([0, 4, 0, 0], bounds, 1.0) == pytest.approx(100.0)
    assert percentile([2, 0, 2, 0], bounds, 0.5) == pytest.approx(10.0)  # the first bucket holds half
    assert percentile([9, 0, 0, 1], bounds, 0.95) == pytest.approx(1000.0)  # the open last bucket: its lower bound
    assert percentile([5, 0, 0, 0], bounds, 0.2) == pytest.approx(2.0)  # from 0


# --- the JSON of the charts -------------------------------------------------------------------------------

def test_one_hour_buckets_count_runs_started_completed_and_failed_per_minute(client: Client, functions: None) -> None:
    now = timezone.now()
    # Rolled up / not rolled up yet (the minute before this one: 40 to 100 s ago).
    old, recent = _mid_minute(now - timedelta(minutes=30)), _mid_minute(now - timedelta(minutes=1))
    Run.objects.bulk_create([
        _ended("c1", old, 120), _ended("c2", old + timedelta(milliseconds=1), 80),
        _ended("f1", old, 3000, RunStatus.FAILED),
        _ended("c3", recent, 40),
        run_row("r1", created_at=recent, status=RunStatus.RUNNING, ended_at=None),
        _ended("x1", old, 50, RunStatus.CANCELLED),
        _ended("o1", old, 10, function_id="other"),
        _ended("gone", now - timedelta(hours=2), 10),  # outside the window
    ])
    _user(client, view=False)
    for _ in range(2):  # the second request rolls up nothing new and counts nothing twice
        data = client.get("/api/metrics", {"window": "1h"}).json()
        assert data["window"] == "1h" and data["bucket_seconds"] == 60 and len(data["series"]["t"]) == 60
        assert (_at(data, "started", old), _at(data, "completed", old), _at(data, "failed", old)) == (5, 3, 1)
        assert _at(data, "started", recent) == 2 and _at(data, "completed", recent) == 1
        assert data["totals"] == {"started": 7, "completed": 4, "failed": 1, "p50_ms": data["totals"]["p50_ms"],
                                  "p95_ms": data["totals"]["p95_ms"]}
    assert RunMetricsMinute.objects.filter(function_id="node").exists()  # `old` came from the rolled-up minutes

    mine = client.get("/api/metrics", {"window": "1h", "function": "tree-app/other"}).json()
    assert mine["function"] == "tree-app/other"
    assert (mine["totals"]["started"], mine["totals"]["completed"], mine["totals"]["failed"]) == (1, 1, 0)


def test_a_day_is_ten_minute_buckets_and_a_week_hourly(client: Client, functions: None) -> None:
    now = timezone.now()
    five_hours, three_days = _mid_minute(now - timedelta(hours=5)), _mid_minute(now - timedelta(days=3))
    Run.objects.bulk_create([_ended("d1", five_hours, 10), _ended("d2", five_hours, 10),
                             _ended("w1", three_days, 10, RunStatus.FAILED)])
    _user(client, view=False)
    day = client.get("/api/metrics", {"window": "24h"}).json()
    assert day["bucket_seconds"] == 600 and len(day["series"]["t"]) == 144
    assert _at(day, "completed", five_hours) == 2 and day["totals"]["failed"] == 0
    week = client.get("/api/metrics", {"window": "7d"}).json()
    assert week["bucket_seconds"] == 3600 and len(week["series"]["t"]) == 168
    assert _at(week, "failed", three_days) == 1 and week["totals"]["completed"] == 2


def test_durations_are_p50_and_p95_per_bucket_and_a_retried_run_counts_its_last_attempt(
        client: Client, functions: None) -> None:
    start = _mid_minute(timezone.now() - timedelta(minutes=10))
    runs = [_ended(f"p{i}", start, 150) for i in range(19)]  # (100, 200] ms
    runs.append(_ended("slow", start, 4000))  # (2000, 5000] ms
    # Retried: first attempt an hour before, last attempt 300 ms; its duration is not the hour.
    retried_start = start - timedelta(minutes=40)
    runs.append(run_row("retried", created_at=retried_start, started_at=retried_start,
                        ended_at=start + timedelta(milliseconds=300), status=RunStatus.COMPLETED,
                        attempts_history=[{"attempt": 1, "started_at": retried_start.isoformat(),
                                           "ended_at": (retried_start + timedelta(seconds=1)).isoformat(),
                                           "status": "failed", "error": None, "reason": None},
                                          {"attempt": 2, "started_at": start.isoformat(), "ended_at": None,
                                           "status": None, "error": None, "reason": "retry"}]))
    Run.objects.bulk_create(runs)
    _user(client, view=False)
    data = client.get("/api/metrics", {"window": "1h"}).json()
    p50, p95 = _at(data, "p50_ms", start), _at(data, "p95_ms", start)
    assert 100 < p50 <= 200 and 200 < p95 <= 5000, (p50, p95)
    assert RunMetricsTotal.objects.get(function_id="node").le_500ms == 1  # the retried run: 300 ms
    assert data["series"]["p50_ms"][0] is None  # a bucket without runs has no percentile


def test_the_backlog_is_due_runs_nobody_claimed_and_the_oldest_ones_age(client: Client, functions: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([
        run_row("q1", status=RunStatus.QUEUED, started_at=None, ended_at=None, ready_at=now - timedelta(minutes=5)),
        run_row("q2", status=RunStatus.QUEUED, started_at=None, ended_at=None, ready_at=now - timedelta(seconds=5)),
        run_row("q3", status=RunStatus.QUEUED, started_at=None, ended_at=None, function_id="other",
                ready_at=now - timedelta(seconds=1)),
        run_row("leased", status=RunStatus.RUNNING, ended_at=None, ready_at=now + timedelta(seconds=30)),
        run_row("later", status=RunStatus.WAITING, ended_at=None, ready_at=now + timedelta(hours=1)),
    ])
    _user(client, view=False)
    backlog = client.get("/api/metrics").json()["backlog"]
    assert backlog["runs"] == 3 and 295 <= backlog["oldest_age_seconds"] < 360
    mine = client.get("/api/metrics", {"function": "tree-app/other"}).json()["backlog"]
    assert mine["runs"] == 1 and mine["oldest_age_seconds"] < 60


def test_each_chart_is_one_statement(functions: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([_ended("a1", now - timedelta(hours=3), 10), _ended("a2", now, 10)])
    metrics.roll_up(now)
    for window in dashboard_metrics.WINDOWS.values():
        with CaptureQueriesContext(connection) as queries:
            dashboard_metrics.chart_data(window, ("tree-app", "node"), now=now)
        # Besides reading how far the roll-up got: the points (rolled-up minutes and the minutes since, one
        # statement) and the backlog.
        statements = [q["sql"] for q in queries if "runs_runmetricsrollup" not in q["sql"]]
        assert len(statements) == 2, statements
        assert len(queries) == 3


def test_a_roll_up_counts_each_minute_once() -> None:
    now = timezone.now()
    Run.objects.bulk_create([_ended(f"m{i}", now - timedelta(minutes=20 + i), 10) for i in range(5)])
    reached = metrics.roll_up(now)
    assert metrics.roll_up(now) == reached == metrics.epoch_minute(now) - metrics.SETTLE_MINUTES
    assert RunMetricsTotal.objects.get(function_id="node").completed == 5
    [total] = metrics.totals(now)
    assert (total.started, total.completed) == (5, 5)


@pytest.mark.parametrize("query, reason", [
    ({"window": "2h"}, "window must be one of 1h, 24h, 7d"),
    ({"function": "zzz"}, "function must be <app id>/<function id>"),
    ({"function": "tree-app/nope"}, "no function 'tree-app/nope'"),
    ({"function": "a/\x00"}, "function must be"),
])
def test_bad_parameters_are_400_with_a_reason(client: Client, functions: None, query: dict[str, str],
                                              reason: str) -> None:
    _user(client, view=False)
    response = client.get("/api/metrics", query)
    assert response.status_code == 400 and reason in response.json()["error"]


def test_the_metrics_api_needs_a_login(client: Client) -> None:
    response = client.get("/api/metrics")
    assert response.status_code == 401 and "error" in response.json()


# --- Prometheus -------------------------------------------------------------------------------------------

def _scrape(client: Client, **headers: str) -> dict[str, Any]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, Any] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_prometheus_metrics_have_the_contracts_names_and_values(client: Client, settings: Any,
                                                                functions: None) -> None:
    settings.RUNS_METRICS_TOKEN = TOKEN
    now = timezone.now()
    Run.objects.bulk_create([
        _ended("c1", now - timedelta(minutes=30), 150), _ended("c2", now - timedelta(seconds=10), 1500),
        _ended("f1", now - timedelta(minutes=30), 40, RunStatus.FAILED),
        run_row("q1", status=RunStatus.QUEUED, started_at=None, ended_at=None, ready_at=now - timedelta(minutes=2)),
    ])
    worker_store.register("h:1:a", host="h", pid=1, threads=2, app_ids=["tree-app"])
    worker_store.register("h:2:b", host="h", pid=2, threads=2, app_ids=["tree-app"])
    worker_store.mark_stopped("h:2:b", runs_done=0)

    samples = _scrape(client, authorization=f"Bearer {TOKEN}")
    node = (("function", "tree-app/node"),)
    assert samples[("tributary_runs_total", (*node, ("status", "completed")))] == 2
    assert samples[("tributary_runs_total", (*node, ("status", "failed")))] == 1
    assert samples[("tributary_runs_started_total", node)] == 3
    assert samples[("tributary_run_duration_seconds_count", node)] == 3
    assert samples[("tributary_run_duration_seconds_sum", node)] == pytest.approx(1.69, abs=0.01)
    assert samples[("tributary_run_duration_seconds_bucket", (*node, ("le", "0.05")))] == 1
    assert samples[("tributary_run_duration_seconds_bucket", (*node, ("le", "0.2")))] == 2
    assert samples[("tributary_run_duration_seconds_bucket", (*node, ("le", "+Inf")))] == 3
    assert samples[("tributary_backlog_runs", ())] == 1
    assert 110 <= samples[("tributary_oldest_due_run_age_seconds", ())] < 200
    assert samples[("tributary_workers", ())] == 1  # the stopped one is not live


def test_prometheus_auth_token_or_a_user_with_view_permission(client: Client, settings: Any) -> None:
    settings.RUNS_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "error" in wrong.json()
    assert client.post("/metrics").status_code == 405
    user = _user(client, view=False)
    refused = client.get("/metrics")
    assert refused.status_code == 403 and "runs.view_run" in refused.json()["error"]
    user.user_permissions.add(Permission.objects.get(codename="view_run", content_type__app_label="runs"))
    user = get_user_model().objects.get(id=user.id)  # drop the permission cache
    client.force_login(user)
    assert _scrape(client)[("tributary_backlog_runs", ())] == 0
    client.logout()
    _, api_token = tokens.issue(user, expires_in=None)
    assert _scrape(client, authorization=f"Bearer {api_token}")[("tributary_workers", ())] == 0


def test_an_empty_metrics_token_lets_no_token_in(client: Client, settings: Any) -> None:
    settings.RUNS_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"authorization": "Bearer "}).status_code == 401


# --- the two URLs -----------------------------------------------------------------------------------------

def test_metrics_without_slash_is_prometheus_and_with_slash_the_page(client: Client, functions: None) -> None:
    assert reverse("tributary:prometheus-metrics") == "/metrics"
    assert reverse("tributary:metrics") == "/metrics/"
    assert resolve("/metrics").url_name == "prometheus-metrics" and resolve("/metrics/").url_name == "metrics"
    _user(client, view=True)
    page = client.get("/metrics/", {"window": "24h", "function": "tree-app/node"})
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    text = page.content.decode()
    assert 'id="chart-throughput"' in text and '<option value="tree-app/node" selected>' in text
    assert 'data-window="24h" href="?window=24h&amp;function=tree-app/node" aria-current="true"' in text
    assert client.get("/metrics")["Content-Type"].startswith("text/plain")


def test_the_page_with_a_bad_window_says_so_and_shows_the_last_hour(client: Client) -> None:
    _user(client, view=False)
    page = client.get("/metrics/", {"window": "<b>x</b>"})
    text = page.content.decode()
    assert page.status_code == 200 and "window must be one of" in text and "<b>x</b>" not in text
    assert 'data-window="1h" href="?window=1h" aria-current="true"' in text


def test_the_page_needs_a_login(client: Client) -> None:
    assert client.get("/metrics/").status_code == 302


# --- the worker rolls up too ------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_worker_rolls_the_metrics_up_without_anyone_reading_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from runs import testing
    from runs import worker as worker_module
    from tests.integration.processes import wait_until

    monkeypatch.setattr(worker_module, "METRICS_ROLL_UP_SECONDS", 0.05)
    Run.objects.bulk_create([_ended("w1", timezone.now() - timedelta(minutes=10), 10)])
    with testing.worker():
        wait_until(lambda: RunMetricsTotal.objects.filter(function_id="node", completed=1).exists(), 10,
                   "the worker's roll-up")


@pytest.mark.django_db(transaction=True)
def test_roll_ups_racing_in_two_threads_count_every_run_once() -> None:
    import threading

    from django.db import connections

    from runs.models import RunMetricsRollup

    now = timezone.now()
    Run.objects.bulk_create([_ended(f"r{i}", _mid_minute(now - timedelta(minutes=5 + i % 30)), 10)
                             for i in range(60)])
    for _ in range(4):
        for model in (RunMetricsMinute, RunMetricsTotal, RunMetricsRollup):
            model.objects.all().delete()
        start = threading.Barrier(2)
        reached: list[int] = []

        def roll(start: threading.Barrier, reached: list[int]) -> None:
            try:
                start.wait()
                reached.append(metrics.roll_up(now))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=roll, args=(start, reached)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert reached == [metrics.epoch_minute(now) - metrics.SETTLE_MINUTES] * 2
        assert RunMetricsTotal.objects.get(function_id="node").completed == 60
        assert sum(RunMetricsMinute.objects.filter(function_id="").values_list("completed", flat=True)) == 60


# --- the benchmark's generator ----------------------------------------------------------------------------

def test_generated_runs_have_every_status_and_are_counted_by_the_metrics() -> None:
    from collections import Counter

    from tests.benchmarks.fixtures import APP_ID, generate_runs

    assert generate_runs(700, functions=7, span=timedelta(hours=2), analyze=False) == 700
    statuses = Counter(Run.objects.values_list("status", flat=True))
    assert statuses == {RunStatus.COMPLETED: 630, RunStatus.FAILED: 42, RunStatus.RUNNING: 14, RunStatus.QUEUED: 7,
                        RunStatus.CANCELLED: 7}
    assert Function.objects.filter(app_id=APP_ID).count() == 7
    for function_id in ("fn-0", "fn-3", "fn-6"):
        assert Counter(Run.objects.filter(function_id=function_id).values_list("status", flat=True)) == {
            RunStatus.COMPLETED: 90, RunStatus.FAILED: 6, RunStatus.RUNNING: 2, RunStatus.QUEUED: 1,
            RunStatus.CANCELLED: 1}
    data = dashboard_metrics.chart_data(dashboard_metrics.WINDOWS["24h"], None)
    assert data["totals"]["started"] == 700 - 7 and data["totals"]["failed"] == 42
    assert data["backlog"]["runs"] == 7


def test_generated_runs_are_the_same_rows_on_every_database() -> None:
    from tests.benchmarks.fixtures import _run, generate_runs

    now = timezone.now()
    generate_runs(700, functions=3, now=now, analyze=False, rebuild_metrics=False)
    columns = ("id", "function_id", "status", "event_data", "error", "failed_step_id", "started_at", "ended_at",
               "ready_at", "lease_owner")
    stored = {row["id"]: row for row in Run.objects.values(*columns)}
    for i in (0, 270, 287, 288, 294, 297):  # completed, failed, failed, running, queued, cancelled (by i // 3)
        made = _run(i, 700, functions=3, span=timedelta(days=7), prefix="g", now=now)
        row = stored[made.id]
        assert {name: row[name] for name in columns if name not in ("started_at", "ended_at")} == {
            name: getattr(made, name) for name in columns if name not in ("started_at", "ended_at")}
        for name in ("started_at", "ended_at"):
            want, got = getattr(made, name), row[name]
            assert (want is None) == (got is None) and (want is None or abs((want - got).total_seconds()) < 0.002)


def test_the_migrations_covering_index_names_every_counter() -> None:
    import importlib

    migration = importlib.import_module("runs.migrations.0016_metrics")
    assert migration.COUNTERS == metrics.COUNTERS
