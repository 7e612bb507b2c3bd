"""`serve` checks its port before it touches anything: a busy port used to print the banner, migrate, create the
demo runs and only then fail inside Daphne (logged, exit status 0)."""

from __future__ import annotations

import errno
import socket

from django.core.management.base import CommandError


def ensure_port_free(host: str, port: int) -> None:
    """CommandError ("port 8000 is in use") unless `host`:`port` can be bound right now, the way Daphne (Twisted)
    binds it: with SO_REUSEADDR, so a port left in TIME_WAIT by a server just stopped still counts as free."""
    address_host = host.strip("[]") or None  # "[::1]" as in a URL; "" for every interface
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            address_host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(f"port {port} is in use (another server listens on {host}:{port}); stop it "
                                   f"or choose another one with --port") from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
