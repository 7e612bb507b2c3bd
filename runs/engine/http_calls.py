"""Keep-alive HTTP connections to SDK apps, one set per worker thread, on the standard library's http.client.

The HTTP driver makes two or more calls per run, so the client's own cost counts: http.client costs about a
quarter of a millisecond less per call than httpx here. An idle connection the app closed is noticed on the
next request and that request is sent again once on a fresh connection.

A call is bounded twice, so that no app can hold a worker (whose heartbeat keeps the run's lease) for ever: in
time, by one deadline for the whole call (connecting, sending, the app's work, every read of its answer: a
socket timeout alone is per operation, and an app trickling a byte at a time would never reach it), and in
size (a Content-Length over the limit is refused before the body is read, and no more than the limit is read).
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class CallFailed(Exception):
    """The app could not be reached, or did not answer in full in time (`timed_out`)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class AnswerTooLarge(CallFailed):
    """The app's answer is bigger than the caller takes: `size` as its Content-Length said, or (None) its body
    went on past the limit."""

    def __init__(self, size: int | None, limit: int) -> None:
        said = f"{size} bytes (its Content-Length)" if size is not None else f"more than {limit} bytes"
        super().__init__(f"the answer is {said}; the limit is {limit} bytes")
        self.size = size
        self.limit = limit


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


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, *, max_bytes: int) -> Response:
    """POST `body` to `url` over this thread's keep-alive connection to its host; the whole call, answer
    included, within `timeout` seconds, and an answer of at most `max_bytes`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallFailed(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    key = (parts.scheme, parts.hostname, port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    _thread.deadline = deadline  # what _Answer reads against (one call at a time per thread)
    for fresh in (False, True):
        reused = not fresh and key in _connections()
        connection = _connection(key, max(deadline - time.monotonic(), 0.001), fresh)
        try:
            answer, data = _exchange(connection, target, body, headers, max_bytes)
        except TimeoutError as exc:
            _drop(key)
            raise CallFailed(str(exc) or "timed out", timed_out=True) from None
        except AnswerTooLarge:
            _drop(key)
            raise
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _drop(key)
            if not reused:
                raise CallFailed(f"{type(exc).__name__}: {exc}") from None
            continue  # an idle keep-alive connection the app had closed: once more on a new one
        except (OSError, http.client.HTTPException) as exc:
            _drop(key)
            raise CallFailed(f"{type(exc).__name__}: {exc}") from None
        if answer.will_close or not answer.isclosed():
            _drop(key)
        return Response(answer.status, data, {name.lower(): value for name, value in answer.getheaders()})
    raise AssertionError("unreachable")


def _exchange(connection: http.client.HTTPConnection, target: str, body: bytes, headers: dict[str, str],
              max_bytes: int) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request("POST", target, body=body, headers=headers)
    answer = connection.getresponse()
    try:
        return answer, _read(answer, max_bytes)
    except BaseException:
        answer.close()  # it holds the socket once the connection let go of it (an answer that closes it)
        raise


def _read(answer: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The answer's body, refused past `max_bytes` (announced or read)."""
    announced = answer.length  # None: chunked, or up to the connection's end
    if announced is not None and announced > max_bytes:
        raise AnswerTooLarge(announced, max_bytes)
    data = answer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AnswerTooLarge(None, max_bytes)
    if announced is not None and len(data) < announced:
        raise http.client.IncompleteRead(data, announced - len(data))
    return data


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read waiting at most until the call's deadline (then TimeoutError)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        # A SocketIO, as the socket's own makefile gives http.client: it keeps the socket open until the
        # answer is read even once the connection has let go of it (an answer that closes the connection).
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the call's deadline passed while the answer was being read")
            self._sock.settimeout(left)
            return self._raw.readinto(buffer) or 0  # never None: the socket has a timeout, so it blocks
        except OSError:
            self._raw.close()  # nothing more can be read: let go of the socket now, not when collected
            raise

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What http.client's response reads from: the connection's socket, through a _DeadlineReader."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, getattr(_thread, "deadline", float("inf"))))


class _Answer(http.client.HTTPResponse):
    """An answer whose status line, headers and body are all read against the call's deadline."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(_DeadlineSocket(sock), *args, **kwargs)  # type: ignore[arg-type]  # (only makefile is used)


def _connection(key: tuple[str, str, int], timeout: float, fresh: bool) -> http.client.HTTPConnection:
    pool = _connections()
    connection = None if fresh else pool.get(key)
    if connection is None:
        scheme, host, port = key
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = pool[key] = kind(host, port, timeout=timeout)
        connection.response_class = _Answer
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _drop(key: tuple[str, str, int]) -> None:
    connection = _connections().pop(key, None)
    if connection is not None:
        connection.close()
