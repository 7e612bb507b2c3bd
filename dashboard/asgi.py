"""This project's ASGI entry point: HTTP through Django, websockets through Channels (login and Origin checked
in dashboard/routing.py, whose `websocket_application` a project that installs the dashboard mounts the same
way)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from dashboard import daphne_body_limit  # noqa: E402
from dashboard.body_limit import BodyLimit  # noqa: E402
from dashboard.routing import websocket_application, websocket_urlpatterns  # noqa: E402
from runs import conf  # noqa: E402

__all__ = ["application", "websocket_urlpatterns"]

# Under Daphne (serve, or `daphne dashboard.asgi:application`) the body is buffered before the application runs:
# the same limit is enforced in Daphne's request class.
daphne_body_limit.install(lambda: conf.get("RUNS_MAX_REQUEST_BODY_BYTES"))

application = ProtocolTypeRouter({
    # Static files (css, js, vendored Cytoscape) come from the app itself: embedded mode has no other web server.
    # Bodies over RUNS_MAX_REQUEST_BODY_BYTES get a 413 before Django reads (and spools) them.
    "http": BodyLimit(ASGIStaticFilesHandler(django_asgi_app), lambda: conf.get("RUNS_MAX_REQUEST_BODY_BYTES")),
    # Origin: the same host and port as the Host header, which must be in ALLOWED_HOSTS (dashboard/origin.py).
    "websocket": websocket_application,
})
