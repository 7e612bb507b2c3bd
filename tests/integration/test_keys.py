"""No public default keys (hardening item 4).

Embedded mode (no DATABASE_URL) generates SECRET_KEY and the event key once per data directory; a scaled-out
deployment must give both in the environment; a missing or published default key stops settings from loading
(except in embedded mode with DEBUG on), and a system check flags one however it got there. Settings are
loaded at process start, so most of these run `manage.py` in a subprocess with the environment under test.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from dashboard.keys import EVENT_KEY_ENV, KEYS_FILE_NAME, SECRET_KEY_ENV, resolve_keys, stored_keys
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
OLD_DEFAULTS = {SECRET_KEY_ENV: "dev-only-insecure-key-change-me-in-production", EVENT_KEY_ENV: "dev-event-key"}


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh clone: no keys, no DATABASE_URL (embedded), the given data directory."""
    env = {name: value for name, value in os.environ.items()
           if name not in (SECRET_KEY_ENV, EVENT_KEY_ENV, "DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG",
                           "DJANGO_SETTINGS_MODULE")}  # pytest-django sets the test settings (with keys)
    env.update({"RUNS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


# --- resolve_keys: the rules, on a real data directory ------------------------------------------------------


def test_embedded_mode_generates_private_keys_once_per_data_directory(tmp_path: Path) -> None:
    first = resolve_keys({}, tmp_path / "a", embedded=True, debug=False)
    again = resolve_keys({}, tmp_path / "a", embedded=True, debug=False)
    other = resolve_keys({}, tmp_path / "b", embedded=True, debug=False)
    assert first == again and first.file == tmp_path / "a" / KEYS_FILE_NAME
    assert first.secret_key != other.secret_key and first.event_key != other.event_key
    assert len(first.secret_key) >= 50 and len(first.event_key) >= 32
    assert first.secret_key not in OLD_DEFAULTS.values() and first.event_key not in OLD_DEFAULTS.values()
    assert stat.S_IMODE(first.file.stat().st_mode) == 0o600
    assert json.loads(first.file.read_text()) == {SECRET_KEY_ENV: first.secret_key, EVENT_KEY_ENV: first.event_key}


def test_the_environment_wins_over_the_keys_file(tmp_path: Path) -> None:
    keys = resolve_keys({SECRET_KEY_ENV: "s" * 50, EVENT_KEY_ENV: "e" * 40}, tmp_path, embedded=True, debug=False)
    assert (keys.secret_key, keys.event_key, keys.file) == ("s" * 50, "e" * 40, None)
    assert not (tmp_path / KEYS_FILE_NAME).exists()


def test_processes_starting_at_once_agree_on_one_keys_file(tmp_path: Path) -> None:
    results: list[dict[str, str]] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        results.append(stored_keys(tmp_path / KEYS_FILE_NAME))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(result == results[0] for result in results)
    assert [path.name for path in tmp_path.iterdir()] == [KEYS_FILE_NAME]  # no temporary files left behind


BAD_KEYS = [{}, OLD_DEFAULTS, {SECRET_KEY_ENV: "s" * 50, EVENT_KEY_ENV: "dev-event-key"},
            {SECRET_KEY_ENV: OLD_DEFAULTS[SECRET_KEY_ENV], EVENT_KEY_ENV: "e" * 40}]


# Every mode but embedded-with-DEBUG; embedded mode never misses a key (it generates them: the first test).
@pytest.mark.parametrize("env,embedded,debug", [
    (env, embedded, debug) for env in BAD_KEYS for embedded, debug in ((False, False), (False, True), (True, False))
    if env or not embedded])
def test_missing_or_default_keys_are_refused(tmp_path: Path, env: dict[str, str], embedded: bool,
                                             debug: bool) -> None:
    with pytest.raises(ImproperlyConfigured, match="is not set|published default"):
        resolve_keys(env, tmp_path, embedded=embedded, debug=debug)


def test_embedded_debug_mode_may_use_a_default_key(tmp_path: Path) -> None:
    keys = resolve_keys(OLD_DEFAULTS, tmp_path, embedded=True, debug=True)
    assert keys.event_key == "dev-event-key"


def test_a_damaged_keys_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEYS_FILE_NAME).write_text('{"RUNS_EVENT_KEY": "dev-event-key"}')
    with pytest.raises(ImproperlyConfigured, match="delete it"):
        resolve_keys({}, tmp_path, embedded=True, debug=False)


# --- the system check -------------------------------------------------------------------------------------------


def test_the_system_check_flags_a_default_key() -> None:
    with override_settings(RUNS_EVENT_KEY="dev-event-key"), pytest.raises(SystemCheckError, match="dashboard.E002"):
        call_command("check")
    with override_settings(SECRET_KEY=OLD_DEFAULTS[SECRET_KEY_ENV]), \
            pytest.raises(SystemCheckError, match="dashboard.E001"):
        call_command("check")
    call_command("check")  # the test session's own keys are fine


# --- manage.py with the environment under test ------------------------------------------------------------------


def test_a_fresh_clone_migrates_and_checks_with_generated_keys(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    assert manage(env, "migrate", "-v", "0").returncode == 0
    assert manage(env, "check").returncode == 0
    keys = json.loads((tmp_path / KEYS_FILE_NAME).read_text())
    shown = manage(env, "shell", "-c", "from django.conf import settings; print(settings.RUNS_EVENT_KEY)")
    assert shown.stdout.strip().splitlines()[-1] == keys[EVENT_KEY_ENV]


def test_scaled_out_settings_refuse_to_start_without_keys(tmp_path: Path) -> None:
    env = clean_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    for debug in ("", "1"):
        done = manage({**env, "DJANGO_DEBUG": debug}, "check")
        assert done.returncode != 0 and "DJANGO_SECRET_KEY is not set" in done.stderr, done.stderr[-2000:]
    done = manage({**env, SECRET_KEY_ENV: "s" * 50, EVENT_KEY_ENV: "dev-event-key"}, "check")
    assert done.returncode != 0 and "RUNS_EVENT_KEY is a published default" in done.stderr
    assert manage({**env, SECRET_KEY_ENV: "s" * 50, EVENT_KEY_ENV: "e" * 40}, "check").returncode == 0
    assert not (tmp_path / KEYS_FILE_NAME).exists()


def test_embedded_mode_refuses_a_default_key_unless_debug(tmp_path: Path) -> None:
    env = clean_env(tmp_path, RUNS_EVENT_KEY="dev-event-key")
    done = manage(env, "check")
    assert done.returncode != 0 and "RUNS_EVENT_KEY is a published default" in done.stderr
    debug = manage({**env, "DJANGO_DEBUG": "1"}, "check")
    assert debug.returncode == 0 and "dashboard.W002" in debug.stderr, debug.stderr[-2000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def post_event(url: str, key: str) -> int:
    request = urllib.request.Request(url, data=json.dumps({"name": "keys-test/hello"}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_embedded_serve_prints_its_generated_event_key_and_accepts_only_it(tmp_path: Path) -> None:
    port, log_path = free_port(), tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)],
                                  cwd=ROOT, env=clean_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        output = wait_until(log_path.read_text, lambda text: "Event key" in text or server.poll() is not None,
                            60, "serve's event key line")
        assert server.poll() is None, output
        [line] = [line for line in output.splitlines() if line.startswith("Event key")]
        key = json.loads((tmp_path / KEYS_FILE_NAME).read_text())[EVENT_KEY_ENV]
        assert key in line
        url = f"http://127.0.0.1:{port}/api/events"
        # The key line comes before Daphne binds its port: wait until it listens.
        wait_until(lambda: _listening(port) or server.poll() is not None, bool, 30, "serve listening")
        assert post_event(url, key) == 200
        assert post_event(url, "dev-event-key") == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
