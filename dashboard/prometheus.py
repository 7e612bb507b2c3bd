"""GET <prefix>metrics: Prometheus' text exposition (prometheus_client), read from the database at each scrape.

A collector registered in a registry made for the request, so no process keeps metric state: every serving
process answers the same numbers. A scrape costs the metrics roll-up (usually a minute's runs), one statement
for the per-function totals, one indexed count for the backlog and one small read of the workers table.
Auth: `Authorization: Bearer <RUNS_METRICS_TOKEN>`, or a user with runs.view_run (a session or an API token);
else 401 (nobody) or 403 (a user without the permission), JSON like every API error.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from runs import conf
from runs.api import error
from runs.models import DURATION_BOUNDS_MS
from runs.store import metrics as store
from runs.store import tokens
from runs.store import workers as worker_store

VIEW = "runs.view_run"
_BOUNDS = tuple(f"{bound / 1000:g}" for bound in DURATION_BOUNDS_MS)


class RunsCollector(Collector):
    """The contract's metrics (issue 11): tributary_runs_total by function and status, tributary_runs_started
    _total, tributary_run_duration_seconds by function, tributary_backlog_runs,
    tributary_oldest_due_run_age_seconds and tributary_workers."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        rows = store.totals(now)
        ended = CounterMetricFamily("tributary_runs", "Runs that ended, by function and status",
                                    labels=["function", "status"])
        started = CounterMetricFamily("tributary_runs_started", "Runs that started, by function",
                                      labels=["function"])
        durations = HistogramMetricFamily(
            "tributary_run_duration_seconds", "Duration of completed and failed runs (a retried run's last "
            "attempt), by function", labels=["function"])
        for row in rows:
            name = f"{row.app_id}/{row.function_id}"
            for status, value in (("completed", row.completed), ("failed", row.failed),
                                  ("cancelled", row.cancelled)):
                ended.add_metric([name, status], value)
            started.add_metric([name], row.started)
            cumulative, buckets = 0, []
            for bound, count in zip((*_BOUNDS, "+Inf"), row.durations, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([name], buckets, sum_value=row.duration_ms / 1000)
        yield ended
        yield started
        yield durations
        waiting = store.backlog(now=now)
        yield GaugeMetricFamily("tributary_backlog_runs", "Runs due and not claimed by any worker",
                                value=waiting.runs)
        age = (now - waiting.oldest_due_at).total_seconds() if waiting.oldest_due_at else 0.0
        yield GaugeMetricFamily("tributary_oldest_due_run_age_seconds",
                                "How long the oldest due, unclaimed run has been due (0: none)", value=max(0.0, age))
        yield GaugeMetricFamily("tributary_workers", "Live worker processes (heartbeat within two leases)",
                                value=worker_store.count_live())


def _refusal(request: HttpRequest) -> HttpResponse | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    expected = str(conf.get("RUNS_METRICS_TOKEN") or "")
    if token and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    user = request.user
    if not user.is_authenticated and token:
        found = tokens.authenticate(token)
        user = found.user if found is not None else user
    if not user.is_authenticated:
        response = error(401, "send 'Authorization: Bearer <RUNS_METRICS_TOKEN>', or log in")
        response["WWW-Authenticate"] = "Bearer"
        return response
    if not user.has_perm(VIEW):
        return error(403, f"metrics need the {VIEW} permission")
    return None


def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = error(405, f"method {request.method} not allowed; use GET")
        response["Allow"] = "GET, HEAD"
        return response
    refused = _refusal(request)
    if refused is not None:
        return refused
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
