"""The dashboard's websocket routes, for the project's ASGI application (docs/getting-started.md).

One line mounts them where the project mounted `dashboard.urls`:

    application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket_application})

`websocket_application` checks the Origin, loads the user from the session, and serves `ws/runs/` and
`ws/graph/<root run id>/` below the URL that `tributary:home` reverses to (so "/tributary/ws/runs/" when the
pages are under "/tributary/"); any other path closes with 4404. A project with websockets of its own routes
`websocket_urlpatterns` (relative to the mount point) inside its own router instead:
`path("tributary/", URLRouter(websocket_urlpatterns))`.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import path, re_path, reverse

from dashboard.consumers import GraphConsumer, NotFoundConsumer, RunsConsumer
from dashboard.origin import SameOriginValidator

websocket_urlpatterns = [
    path("ws/runs/", RunsConsumer.as_asgi()),
    # Group names allow ASCII letters, digits, '-', '_' and '.' only, below 100 characters.
    re_path(r"^ws/graph/(?P<root_run_id>[A-Za-z0-9_-]{1,64})/$", GraphConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),  # last: any other path closes with 4404, not a router exception
]


class UnderDashboardPrefix:
    """Routes a socket to `websocket_urlpatterns` when its path is below the dashboard's mount point (read from
    the URLconf at each connection, so it follows the project's `include`), else closes it with 4404."""

    def __init__(self) -> None:
        self.routes = URLRouter(websocket_urlpatterns)
        self.not_found = NotFoundConsumer.as_asgi()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        base = reverse("tributary:home")  # "/" or "/tributary/"
        path_ = scope.get("path", "")
        if not path_.startswith(base):
            return await self.not_found(scope, receive, send)
        return await self.routes(dict(scope, path_remaining=path_[len(base):]), receive, send)


websocket_application = SameOriginValidator(AuthMiddlewareStack(UnderDashboardPrefix()))
