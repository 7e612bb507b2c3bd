"""The two secrets a deployment needs: Django's SECRET_KEY (signs session cookies) and RUNS_EVENT_KEY (event
intake). Settings import this module, so it needs nothing from Django but its exception.

Embedded mode (no DATABASE_URL) takes a key the environment does not give from the data directory's keys file,
created with fresh random keys on first use: a fresh clone runs without configuration, and no two installs
share a key. A scaled-out deployment (DATABASE_URL) must give both keys in the environment: its processes run
on several machines and must agree. A missing or published default key never starts, except in embedded
mode with DEBUG on.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

KEYS_FILE_NAME = "keys.json"
SECRET_KEY_ENV = "DJANGO_SECRET_KEY"
EVENT_KEY_ENV = "RUNS_EVENT_KEY"

# Keys that earlier versions used as defaults: they are public, so anything signed with them can be forged.
KNOWN_DEFAULT_KEYS = frozenset({"dev-event-key", "dev-only-insecure-key-change-me-in-production"})


@dataclass(frozen=True)
class Keys:
    secret_key: str
    event_key: str
    file: Path | None  # the keys file either key came from (embedded mode), else None


def key_problem(value: str | None) -> str | None:
    """Why a key must not be used, or None."""
    if not value or not value.strip():
        return "is not set"
    if value in KNOWN_DEFAULT_KEYS:
        return "is a published default key"
    return None


def resolve_keys(env: Mapping[str, str], data_dir: Path, *, embedded: bool, debug: bool) -> Keys:
    secret_key, event_key = env.get(SECRET_KEY_ENV, ""), env.get(EVENT_KEY_ENV, "")
    file = None
    if embedded and not (secret_key and event_key):
        file = data_dir / KEYS_FILE_NAME
        stored = stored_keys(file)
        secret_key, event_key = secret_key or stored[SECRET_KEY_ENV], event_key or stored[EVENT_KEY_ENV]
    if not (embedded and debug):
        for name, value in ((SECRET_KEY_ENV, secret_key), (EVENT_KEY_ENV, event_key)):
            problem = key_problem(value)
            if problem:
                where = ("set it in the environment (every process of a deployment needs the same value)"
                         if not embedded else f"unset it to use a generated key kept in {data_dir / KEYS_FILE_NAME}")
                raise ImproperlyConfigured(f"{name} {problem}; {where}. Generate one with: "
                                           f"python -c 'import secrets; print(secrets.token_urlsafe(50))'")
    return Keys(secret_key=secret_key, event_key=event_key, file=file)


def stored_keys(path: Path) -> dict[str, str]:
    """The keys kept in `path`, created (readable by this user only) when it does not exist yet."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {SECRET_KEY_ENV: secrets.token_urlsafe(50), EVENT_KEY_ENV: secrets.token_urlsafe(32)}
    # Written whole to a private temporary file, then linked into place: linking fails if the file exists, so
    # processes starting at once (serve and a worker) all end up with the one that was linked first.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(keys, out)
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> dict[str, str]:
    try:
        keys = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"{path} is not a keys file ({exc}); delete it to generate new keys") from None
    if not isinstance(keys, dict) or any(not isinstance(keys.get(name), str) or key_problem(keys[name])
                                         for name in (SECRET_KEY_ENV, EVENT_KEY_ENV)):
        raise ImproperlyConfigured(f"{path} lacks {SECRET_KEY_ENV} or {EVENT_KEY_ENV}; "
                                   f"delete it to generate new keys")
    return keys
