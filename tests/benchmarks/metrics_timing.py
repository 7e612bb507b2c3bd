"""Server-side time of each metrics chart and of a Prometheus scrape (issue 11: < 150 ms p95 at 1,000,000 runs).

    DATABASE_URL=postgres://.../bench DJANGO_SETTINGS_MODULE=tests.settings \
        python -m tests.benchmarks.metrics_timing --runs 1000000

generates the runs first (tests/benchmarks/fixtures.py) unless the database already holds as many, then times
GET /api/metrics for every window, for all functions and for one, and GET /metrics, through Django's test
client in this process (the view, its queries and the JSON; no network). Prints one JSON line per URL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any


def time_metrics(reps: int = 20) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from dashboard.metrics import WINDOWS
    from tests.benchmarks.fixtures import APP_ID

    user, _ = get_user_model().objects.get_or_create(username="metrics-bench", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    urls = [f"/api/metrics?window={name}{suffix}" for name in WINDOWS
            for suffix in ("", f"&function={APP_ID}/fn-3")] + ["/metrics"]
    results = []
    for url in urls:
        client.get(url)  # warm: connection, roll-up of the minutes since the last request
        took = []
        for _ in range(reps):
            start = time.perf_counter()
            response = client.get(url)
            took.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.content[:200]
        took.sort()
        results.append({"url": url, "p50_ms": round(statistics.median(took), 1),
                        "p95_ms": round(took[max(0, round(0.95 * len(took)) - 1)], 1), "reps": reps})
    return results


def main() -> None:
    import django

    django.setup()
    from runs.models import Run
    from tests.benchmarks.fixtures import generate_runs

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if Run.objects.count() < args.runs:
        generate_runs(args.runs - Run.objects.count(), prefix=f"g{time.time_ns() % 10**6}-")
    for line in time_metrics(args.reps):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
