"""The body limit under Daphne, where the ASGI wrapper (dashboard/body_limit.py) comes too late.

Daphne's HTTP layer (Twisted) receives a request's whole body, into memory or a temporary file, before it calls
the ASGI application: a client declaring 1 GiB would be read (or waited for) to the end. These hooks on
Daphne's request class answer 413 as soon as the declared length, or the bytes received so far, pass the limit,
and close the connection without reading the rest.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from dashboard.body_limit import refusal_body

_installed = False


def install(max_bytes: Callable[[], int]) -> None:
    """Hook Daphne's request class once per process; `max_bytes` is read per request."""
    global _installed
    if _installed:
        return
    from daphne.http_protocol import WebRequest

    got_length, content_chunk = WebRequest.gotLength, WebRequest.handleContentChunk

    def guarded_got_length(request: Any, length: int | None) -> None:
        request.body_received = 0
        if length is not None and length > max_bytes():
            _refuse(request, max_bytes())
            return
        got_length(request, length)

    def guarded_content_chunk(request: Any, data: bytes) -> None:
        if getattr(request, "body_refused", False):
            return  # the connection is closing; the rest is dropped unread
        request.body_received = getattr(request, "body_received", 0) + len(data)
        if request.body_received > max_bytes():
            _refuse(request, max_bytes())
            return
        content_chunk(request, data)

    WebRequest.gotLength = guarded_got_length
    WebRequest.handleContentChunk = guarded_content_chunk
    _installed = True


def _refuse(request: Any, limit: int) -> None:
    # The request line and headers are parsed but the request was never handed to the application, so the
    # answer is written on the transport directly, then the connection closes.
    request.body_refused = True
    request.content = io.BytesIO()  # whatever Twisted does with the request next finds an empty body
    body = refusal_body(limit)
    head = (f"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    transport = request.channel.transport
    transport.write(head + body)
    transport.loseConnection()
