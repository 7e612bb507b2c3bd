"""The dashboard's URLs, mountable under any prefix: `path("tributary/", include("dashboard.urls"))`.

Every name is in the `tributary` namespace (`reverse("tributary:runs")`), so none clashes with a project's own;
templates and scripts build every URL from these (scripts from the base URL the pages hand them). The login
views are here for projects that have none: pages send anonymous users to the project's LOGIN_URL when it
resolves to a view, else to `tributary:login` (dashboard/auth.py). The websocket routes are in
dashboard/routing.py.
"""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from dashboard import api as dashboard_api
from dashboard import prometheus, views
from dashboard.auth import DashboardLogoutView
from dashboard.login_throttle import ThrottledLoginView
from runs import api, api_actions

app_name = "tributary"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="tributary:runs", permanent=False), name="home"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", DashboardLogoutView.as_view(), name="logout"),
    # Pages (dashboard/views.py)
    path("runs/", views.runs_page, name="runs"),
    path("partials/run-rows", views.run_rows, name="run-rows"),  # the runs page's live updates
    path("runs/<str:run_id>/", views.run_page, name="run"),
    path("functions/", views.functions_page, name="functions"),
    path("events/", views.events_page, name="events"),
    path("events/send", views.send_event, name="send-event"),
    path("audit/", views.audit_page, name="audit"),
    path("apps/", views.apps_page, name="apps"),
    path("workers/", views.workers_page, name="workers"),
    path("apps/sync", views.sync_app, name="sync-app"),
    path("apps/add", views.add_app, name="add-app"),
    # JSON API: intake and run reads (runs/api.py), the dashboard's reads (dashboard/api.py)
    path("api/events", dashboard_api.events, name="api-events"),
    path("api/events/<str:event_id>/runs", api.get_event_runs, name="api-event-runs"),
    path("api/runs", dashboard_api.list_runs, name="api-runs"),
    path("api/runs/bulk", api_actions.bulk, name="api-runs-bulk"),
    path("api/runs/<str:run_id>/graph", dashboard_api.run_graph, name="api-run-graph"),
    path("api/runs/<str:run_id>/cancel", api_actions.cancel_run, name="api-run-cancel"),
    path("api/runs/<str:run_id>/retry", api_actions.retry_run, name="api-run-retry"),
    path("api/runs/<str:run_id>/wake", api_actions.wake_run, name="api-run-wake"),
    path("api/runs/<str:run_id>/steps/<path:step_id>/fail", api_actions.fail_step, name="api-step-fail"),
    path("api/runs/<str:run_id>/steps/<path:step_id>/cancel", api_actions.cancel_step, name="api-step-cancel"),
    path("api/runs/<str:run_id>", api.get_run, name="api-run"),
    path("api/functions", dashboard_api.list_functions, name="api-functions"),
    path("api/workers", dashboard_api.list_workers, name="api-workers"),
    # Replaying an event (issue 11 item 7): the Events page's button, and the JSON action
    path("events/<str:event_id>/replay", views.replay_event, name="replay-event"),
    path("api/events/<str:event_id>/replay", api_actions.replay_event, name="api-event-replay"),
    # Incidents (issue 11, item 6): failed roots grouped by their root cause's signature
    path("incidents/", views.incidents_page, name="incidents"),
    path("incidents/<str:incident_id>/", views.incident_page, name="incident"),
    path("partials/incident-rows", views.incident_rows, name="incident-rows"),  # the Incidents page's live refresh
    path("api/incidents", dashboard_api.list_incidents, name="api-incidents"),
    path("api/incidents/<str:incident_id>", dashboard_api.get_incident, name="api-incident"),
    path("api/incidents/<str:incident_id>/retry", api_actions.incident_retry, name="api-incident-retry"),
    path("api/incidents/<str:incident_id>/cancel", api_actions.incident_cancel, name="api-incident-cancel"),
    path("api/functions/<str:app_id>/<str:function_id>/pause", api_actions.pause_function, name="api-function-pause"),
    path("api/functions/<str:app_id>/<str:function_id>/resume", api_actions.resume_function,
         name="api-function-resume"),
    # Metrics: the page (charts from GET api/metrics) and Prometheus' scrape target (no slash: not the page)
    path("metrics/", views.metrics_page, name="metrics"),
    path("api/metrics", dashboard_api.get_metrics, name="api-metrics"),
    path("metrics", prometheus.metrics, name="prometheus-metrics"),
]
