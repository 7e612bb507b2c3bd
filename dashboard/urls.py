from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from dashboard import views
from runs import api

urlpatterns = [
    path("", RedirectView.as_view(url="/runs/", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/", views.runs_page, name="runs"),
    path("runs/<str:run_id>/", views.run_page, name="run"),
    path("api/events", api.post_events, name="api-events"),
    path("api/events/<str:event_id>/runs", api.get_event_runs, name="api-event-runs"),
    path("api/runs/<str:run_id>", api.get_run, name="api-run"),
    path("admin/", admin.site.urls),
]
