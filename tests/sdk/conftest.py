"""Fixtures of the SDK tests: a live Tributary (`manage.py serve`, embedded worker) in dev or signed mode against
the test database, and the official SDK apps of tests/sdk_apps started on free ports and stopped after.

    def test_x(tributary_server, sdk_app):                  # tributary_server: dev mode unless parametrized
        app = sdk_app("js3")                                # pointed at tributary_server, in its mode
        sync(app); wait_registered(app)
        event_id = send(tributary_server, "main/event")
        run = wait_run(tributary_server, event_id, app.function_id("main-function"))

Parametrize `mode` (indirect is not needed: it is a plain fixture) to run a test in signed mode:
`@pytest.mark.parametrize("mode", ["dev", "signed"])` (put it first in the test's parameters, so that the mode
changes once). A module runs one server at a time, restarted only when the mode changes, and each app once per
server (tables are emptied after each test by transactional_db: each test syncs the apps it uses, and the native
functions are synced again for it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.processes import database_url_for_workers
from tests.sdk.harness import (
    KINDS,
    SdkAppProcess,
    TributaryServer,
    in_ci,
    node_missing_reason,
    require_node,
    start_sdk_app,
    start_tributary,
    sync,
    wait_registered,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without node or the npm install, tests that start a JS app are skipped with the reason, except in CI,
    where they run and fail loudly (harness.require_node)."""
    reason = node_missing_reason()
    if reason is None or in_ci():
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("kind") if callspec else None
        if "tests/sdk/" in str(item.fspath) and kind in ("js3", "js4"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def mode() -> str:
    """The mode a test runs Tributary and its apps in; parametrize it to change it."""
    return "dev"


@pytest.fixture(scope="module")
def _tributary_servers(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory,
                       ) -> Iterator[Callable[[str], TributaryServer]]:
    started: dict[str, TributaryServer] = {}

    def start(mode: str) -> TributaryServer:
        # One server at a time: the embedded workers of two servers would both claim the runs of the one test
        # database, and a worker in the other mode would call the apps wrongly (signed vs unsigned).
        for other in [m for m in started if m != mode]:
            started.pop(other).process.stop(timeout=15)
        if mode not in started:
            with django_db_blocker.unblock():
                database_url = database_url_for_workers()
            started[mode] = start_tributary(mode, database_url=database_url,
                                            data_dir=tmp_path_factory.mktemp(f"tributary-{mode}"),
                                            event_key=os.environ["RUNS_EVENT_KEY"])
        return started[mode]

    try:
        yield start
    finally:
        for server in started.values():
            server.process.stop(timeout=15)


@pytest.fixture
def tributary_server(transactional_db: None, _tributary_servers: Callable[[str], TributaryServer], mode: str,
                     ) -> TributaryServer:
    """A live Tributary in `mode` ("dev": RUNS_INNGEST_DEV=1; "signed": RUNS_INNGEST_SIGNING_KEY), with the
    native functions of tests/sdk/native_functions.py registered for this test."""
    from runs.store.functions import sync_functions
    from tests.sdk import native_functions

    sync_functions(native_functions.app.functions.values())
    return _tributary_servers(mode)


@pytest.fixture(scope="module")
def _sdk_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SdkAppProcess]]:
    started: dict[tuple[Any, ...], tuple[SdkAppProcess, TributaryServer]] = {}
    log_dir = tmp_path_factory.mktemp("sdk-apps")

    def start(kind: str, server: TributaryServer, app_id: str | None = None,
              env: dict[str, str] | None = None) -> SdkAppProcess:
        for stale in [key for key, (_, origin) in started.items() if not origin.process.alive()]:
            started.pop(stale)[0].process.stop()  # pointed at a server that has been stopped
        key = (kind, server.url, app_id or "", *sorted((env or {}).items()))
        if key not in started or not started[key][0].process.alive():
            require_node(kind)
            app = start_sdk_app(kind, mode=server.mode, origin=server.url, log_dir=log_dir, app_id=app_id,
                                signing_key=server.signing_key,
                                # Dev mode sends with the SDKs' NO_EVENT_KEY_SET, as against `inngest dev`.
                                event_key=server.event_key if server.mode == "signed" else None,
                                extra_env=env)
            started[key] = (app, server)
        return started[key][0]

    try:
        yield start
    finally:
        for app, _ in started.values():
            app.process.stop()


@pytest.fixture
def sdk_app(tributary_server: TributaryServer, _sdk_apps: Callable[..., SdkAppProcess],
            ) -> Callable[..., SdkAppProcess]:
    """`sdk_app(kind, app_id=None, server=None, env=None)`: the official SDK app `kind` (js3, js4, py) pointed at
    `server` (default: this test's tributary_server) in the server's mode, started once per module and per
    `env` (the apps' test switches, e.g. `{"OMIT_FUNCTIONS": "probe-wait"}`)."""

    def get(kind: str, app_id: str | None = None, server: TributaryServer | None = None,
            env: dict[str, str] | None = None) -> SdkAppProcess:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        return _sdk_apps(kind, server or tributary_server, app_id, env)

    return get


@pytest.fixture
def app(kind: str, tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess],
        ) -> SdkAppProcess:
    """The SDK app of the test's `kind` (parametrize it), synced with this test's (emptied) tables."""
    started = sdk_app(kind)
    sync(started)
    wait_registered(started)
    return started


@pytest.fixture
def api_token(tributary_server: TributaryServer) -> str:
    """A read token of a fresh user, for the dashboard's JSON API on the live server (the test database)."""
    from django.contrib.auth.models import User

    from runs.models import ApiToken
    from runs.store import tokens

    user = User.objects.create_user("sdk-reader", password="unused-password")
    return tokens.issue(user, scope=ApiToken.Scope.READ, expires_in=None)[1]
