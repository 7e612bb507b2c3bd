"""This project's own URLs (`manage.py serve`): the dashboard at the root, Inngest's SDK endpoints at their
own paths (the SDKs address an origin), and Django's admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("runs.inngest_urls")),  # Inngest SDK apps: /fn/register, /e/<key>, /v1/... at the root
    path("", include("dashboard.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "dashboard.views.not_found"  # the app's layout for a missing page; JSON under /api/ and SDK paths
