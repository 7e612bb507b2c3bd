"""`runs.testing.worker()` finds functions exactly as `manage.py worker` does: every installed app's
`functions.py` and the modules RUNS_FUNCTION_MODULES names, so a user's test imports none of them itself."""

from __future__ import annotations

import sys

import pytest
from django.test import override_settings

from runs import client, testing
from runs.loading import function_modules

APP_MODULE = "tests.discovery_app.functions"
NAMED_MODULE = "tests.discovery_app.named_functions"


@pytest.fixture
def fresh_modules() -> None:
    # Imported by this test's discovery only: a module left over from an earlier test would prove nothing.
    for name in (APP_MODULE, NAMED_MODULE):
        sys.modules.pop(name, None)


@pytest.mark.django_db(transaction=True)
def test_the_test_worker_runs_functions_it_discovered_by_itself(fresh_modules: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RUNS_FUNCTION_MODULES = [NAMED_MODULE]
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.discovery_app"]):
        assert APP_MODULE not in sys.modules and NAMED_MODULE not in sys.modules
        with testing.worker():
            from_app = client.send("discovery/app", {"n": 1})
            from_setting = client.send("discovery/setting", {"n": 2})
            app_runs, setting_runs = client.runs_for_event(from_app), client.runs_for_event(from_setting)
            assert [r.function_id for r in app_runs] == ["discovered-in-app"]
            assert [r.function_id for r in setting_runs] == ["discovered-by-setting"]
            assert testing.wait_for_run(app_runs[0].id).output == "app functions.py saw 1"
            assert testing.wait_for_run(setting_runs[0].id).output == "RUNS_FUNCTION_MODULES saw 2"


def test_the_setting_and_the_environment_both_name_modules(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.RUNS_FUNCTION_MODULES = ["a.functions"]
    monkeypatch.setenv("RUNS_FUNCTION_MODULES", "b.functions, c.functions")
    assert function_modules() == ["a.functions", "b.functions", "c.functions"]
