"""ASGI entry point: HTTP through Django, websockets through Channels (login and Origin checked)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from dashboard import daphne_body_limit  # noqa: E402
from dashboard.body_limit import BodyLimit  # noqa: E402
from dashboard.consumers import GraphConsumer, NotFoundConsumer, RunsConsumer  # noqa: E402
from dashboard.origin import SameOriginValidator  # noqa: E402

websocket_urlpatterns = [
    path("ws/runs/", RunsConsumer.as_asgi()),
    # Group names allow ASCII letters, digits, '-', '_' and '.' only, below 100 characters.
    re_path(r"^ws/graph/(?P<root_run_id>[A-Za-z0-9_-]{1,64})/$", GraphConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),  # last: any other path closes with 4404, not a router exception
]

# Under Daphne (serve, or `daphne dashboard.asgi:application`) the body is buffered before the application runs:
# the same limit is enforced in Daphne's request class.
daphne_body_limit.install(lambda: settings.RUNS_MAX_REQUEST_BODY_BYTES)

application = ProtocolTypeRouter({
    # Static files (css, js, vendored Cytoscape) come from the app itself: embedded mode has no other web server.
    # Bodies over RUNS_MAX_REQUEST_BODY_BYTES get a 413 before Django reads (and spools) them.
    "http": BodyLimit(ASGIStaticFilesHandler(django_asgi_app), lambda: settings.RUNS_MAX_REQUEST_BODY_BYTES),
    # Origin: the same host and port as the Host header, which must be in ALLOWED_HOSTS (dashboard/origin.py).
    "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
