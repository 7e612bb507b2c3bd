"""An ASGI wrapper that refuses HTTP request bodies over a limit before the application reads them.

Django's ASGI handler reads a whole body into memory and temporary files before any view runs, on any URL,
whatever its size. This wrapper answers 413 with a JSON reason instead:
- at once when `Content-Length` declares more than the limit (the body is never received), and
- while streaming (chunked bodies, or a client that sends more than it declared), as soon as the bytes received
  pass the limit; the application is then told the client went away, so it stops reading and answers nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # (scope, receive, send); loose: handlers annotate it differently


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """Wraps the HTTP application; `max_bytes` is read per request (a callable), so settings changes apply."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:  # an application that answered before reading keeps its answer
                        await _refuse(send, limit)
                    return {"type": "http.disconnect"}  # Django's read_body stops: RequestAborted
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # after our 413 the response is finished: the application has nothing to add
                return
            started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


def refusal_body(limit: int) -> bytes:
    return json.dumps({"error": f"request body is larger than {limit} bytes (RUNS_MAX_REQUEST_BODY_BYTES)"}).encode()


async def _refuse(send: Send, limit: int) -> None:
    body = refusal_body(limit)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
