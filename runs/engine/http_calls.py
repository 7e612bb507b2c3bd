"""Keep-alive HTTP connections to SDK apps, one set per worker thread, on the standard library's http.client.

The HTTP driver makes two or more calls per run, so the client's own cost counts: http.client costs about a
quarter of a millisecond less per call than httpx here. An idle connection the app closed is noticed on the
next request and that request is sent again once on a fresh connection.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


class CallFailed(Exception):
    """The app could not be reached, or did not answer in time (`timed_out`)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str]  # lower-cased names

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


_thread = threading.local()


def _connections() -> dict[tuple[str, str, int], http.client.HTTPConnection]:
    pool = getattr(_thread, "connections", None)
    if pool is None:
        pool = _thread.connections = {}
    return pool


def close_thread_connections() -> None:
    for connection in _connections().values():
        connection.close()
    _connections().clear()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` to `url` over this thread's keep-alive connection to its host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallFailed(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    key = (parts.scheme, parts.hostname, port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for fresh in (False, True):
        reused = not fresh and key in _connections()
        connection = _connection(key, timeout, fresh)
        try:
            connection.request("POST", target, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except TimeoutError as exc:
            _drop(key)
            raise CallFailed(str(exc) or "timed out", timed_out=True) from None
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _drop(key)
            if not reused:
                raise CallFailed(f"{type(exc).__name__}: {exc}") from None
            continue  # an idle keep-alive connection the app had closed: once more on a new one
        except (OSError, http.client.HTTPException) as exc:
            _drop(key)
            raise CallFailed(f"{type(exc).__name__}: {exc}") from None
        if answer.will_close:
            _drop(key)
        return Response(answer.status, data, {name.lower(): value for name, value in answer.getheaders()})
    raise AssertionError("unreachable")


def _connection(key: tuple[str, str, int], timeout: float, fresh: bool) -> http.client.HTTPConnection:
    pool = _connections()
    connection = None if fresh else pool.get(key)
    if connection is None:
        scheme, host, port = key
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = pool[key] = kind(host, port, timeout=timeout)
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _drop(key: tuple[str, str, int]) -> None:
    connection = _connections().pop(key, None)
    if connection is not None:
        connection.close()
