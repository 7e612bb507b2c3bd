from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from dashboard import api as dashboard_api
from dashboard import views
from dashboard.login_throttle import ThrottledLoginView
from runs import api, api_actions

urlpatterns = [
    path("", RedirectView.as_view(url="/runs/", permanent=False)),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Pages (dashboard/views.py)
    path("runs/", views.runs_page, name="runs"),
    path("partials/run-rows", views.run_rows, name="run-rows"),  # the runs page's live updates
    path("runs/<str:run_id>/", views.run_page, name="run"),
    path("functions/", views.functions_page, name="functions"),
    path("events/", views.events_page, name="events"),
    path("events/send", views.send_event, name="send-event"),
    path("audit/", views.audit_page, name="audit"),
    # JSON API: intake and run reads (runs/api.py), the dashboard's reads (dashboard/api.py)
    path("api/events", dashboard_api.events, name="api-events"),
    path("api/events/<str:event_id>/runs", api.get_event_runs, name="api-event-runs"),
    path("api/runs", dashboard_api.list_runs, name="api-runs"),
    path("api/runs/bulk", api_actions.bulk, name="api-runs-bulk"),
    path("api/runs/<str:run_id>/graph", dashboard_api.run_graph, name="api-run-graph"),
    path("api/runs/<str:run_id>/cancel", api_actions.cancel_run, name="api-run-cancel"),
    path("api/runs/<str:run_id>/retry", api_actions.retry_run, name="api-run-retry"),
    path("api/runs/<str:run_id>", api.get_run, name="api-run"),
    path("api/functions", dashboard_api.list_functions, name="api-functions"),
    path("admin/", admin.site.urls),
]
