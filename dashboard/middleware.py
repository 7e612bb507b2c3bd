"""Refuse ids in URL paths that no database column can hold, before a view queries with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


class RefuseUnstorablePathIds:
    """`/api/runs/a%00b`: PostgreSQL refuses NUL in any text parameter, so the lookup itself would raise (a
    500). Every path id goes through here: 400 with a reason (JSON under /api/), for every URL at once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> HttpResponse | None:
        for name, value in kwargs.items():
            if isinstance(value, str) and "\x00" in value:
                reason = f"{name} contains a NUL character"
                # JSON APIs (ours and the Inngest SDK endpoints, which the SDKs read as JSON) answer in JSON.
                if request.path.startswith("/api/") or getattr(view, "__module__", "") == "runs.inngest_api":
                    return JsonResponse({"error": reason}, status=400)
                return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")
        return None
