"""Inngest's server paths for official SDK apps (runs/inngest_api.py). The SDKs build these URLs from
`INNGEST_DEV` / `INNGEST_BASE_URL` (an origin, no path), so a project includes this at its site root, with no
namespace: `path("", include("runs.inngest_urls"))`."""

from __future__ import annotations

from django.urls import path, re_path

from runs import inngest_api

urlpatterns = [
    path("fn/register", inngest_api.register, name="inngest-register"),
    # Any key, even an empty one, reaches the view: a wrong key is a JSON 401, not an HTML 404.
    re_path(r"^e/(?P<event_key>[^/]*)$", inngest_api.send_events, name="inngest-events"),
    path("v1/events/<str:event_id>/runs", inngest_api.event_runs, name="inngest-event-runs"),
    path("v1/runs/<str:run_id>", inngest_api.run, name="inngest-run"),
    path("v1/<path:rest>", inngest_api.unknown, name="inngest-unknown"),
]
