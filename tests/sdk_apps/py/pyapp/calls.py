"""Logs every Call Request as one line, `call-request {"fnId":…,"stepId":…,"run_id":…,"attempt":…,
"disable_immediate_execution":…}` (the JS apps' serve.js logs the same), so a test can check what the server
asked for, which the function itself cannot see."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("pyapp.calls")


def log_call_requests(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.GET.get("fnId"):
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None  # not ours to judge: the SDK answers a malformed request itself
            ctx = body.get("ctx") if isinstance(body, dict) else None
            ctx = ctx if isinstance(ctx, dict) else {}
            logger.info("call-request %s", json.dumps({
                "fnId": request.GET["fnId"], "stepId": request.GET.get("stepId"), "run_id": ctx.get("run_id"),
                "attempt": ctx.get("attempt"), "disable_immediate_execution": ctx.get("disable_immediate_execution")}))
        return get_response(request)

    return middleware
