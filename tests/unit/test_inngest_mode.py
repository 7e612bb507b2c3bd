"""runs.inngest_mode: signed whenever a signing key is set, dev only when switched on, else off; each of the three
settings from the settings module when it defines it (whatever the value), else from the environment; and the
system check that warns about dev mode where it is unsafe."""

from __future__ import annotations

from typing import Any

import pytest

import dashboard.settings as bundled
from runs import inngest_mode
from runs.checks import inngest_mode_problems
from runs.conf import from_environ

KEY = "signkey-prod-" + "0f" * 32
OTHER = "signkey-prod-" + "1e" * 32
NAMES = ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Neither source sets anything: the environment variables unset, the settings undefined (as in the bundled
    project, whose settings module leaves them to the environment)."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
        if hasattr(settings, name):
            delattr(settings, name)
    monkeypatch.setattr(inngest_mode, "_dev_forced", False, raising=False)


def test_off_by_default() -> None:
    assert (inngest_mode.mode(), inngest_mode.describe(), inngest_mode.signing_keys()) == ("off", "off", [])


def test_the_bundled_project_leaves_the_mode_to_the_environment() -> None:
    assert not any(hasattr(bundled, name) for name in NAMES)
    assert set(from_environ({name: "1" for name in NAMES})).isdisjoint(NAMES)


def test_each_comes_from_the_environment_when_the_settings_do_not_define_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNS_INNGEST_DEV", "1")
    assert (inngest_mode.mode(), inngest_mode.describe()) == ("dev", "dev mode (no signatures)")
    monkeypatch.setenv("RUNS_INNGEST_DEV", "0")
    assert inngest_mode.mode() == "off"
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY", KEY)
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY_FALLBACK", OTHER)
    assert (inngest_mode.mode(), inngest_mode.signing_keys()) == ("signed", [KEY, OTHER])


@pytest.mark.parametrize(("setting", "environment", "mode"), [
    (True, "0", "dev"), (False, "1", "off"), ("1", "", "dev"), ("no", "1", "off")])
def test_a_defined_dev_setting_wins_over_the_environment(settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                         setting: Any, environment: str, mode: str) -> None:
    monkeypatch.setenv("RUNS_INNGEST_DEV", environment)
    settings.RUNS_INNGEST_DEV = setting
    assert inngest_mode.mode() == mode


def test_defined_key_settings_win_over_the_environment_even_when_empty(settings: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY", OTHER)
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY_FALLBACK", OTHER)
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    assert inngest_mode.signing_keys() == [KEY, OTHER]  # the fallback setting is not defined: its variable
    settings.RUNS_INNGEST_SIGNING_KEY_FALLBACK = ""
    assert inngest_mode.signing_keys() == [KEY]
    settings.RUNS_INNGEST_SIGNING_KEY = ""  # an explicit "no key", though the environment has one
    assert (inngest_mode.mode(), inngest_mode.signing_keys()) == ("off", [])


def test_serve_dev_forces_dev_mode_but_a_key_still_wins(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.RUNS_INNGEST_DEV = False
    inngest_mode.force_dev()
    assert inngest_mode.mode() == "dev"
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY", KEY)
    assert inngest_mode.mode() == "signed"


def test_a_key_means_signed_even_with_dev_on(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.RUNS_INNGEST_DEV = True
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY", KEY)
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY_FALLBACK", "signkey-prod-aa")
    assert (inngest_mode.mode(), inngest_mode.describe()) == ("signed", "signed mode")
    assert inngest_mode.signing_keys() == [KEY, "signkey-prod-aa"]


def test_a_fallback_alone_is_no_key(settings: Any) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY_FALLBACK = KEY
    assert (inngest_mode.mode(), inngest_mode.signing_keys()) == ("off", [])


def test_dev_mode_is_warned_about_without_debug_or_with_a_database_url(settings: Any) -> None:
    assert inngest_mode_problems(debug=False, database_url=True) == []  # off: nothing to say
    settings.RUNS_INNGEST_DEV = True
    assert inngest_mode_problems(debug=True, database_url=False) == []
    for debug, database_url in ((False, False), (True, True)):
        [warning] = inngest_mode_problems(debug=debug, database_url=database_url)
        assert warning.id == "runs.W002"


def test_a_signing_key_that_is_not_one_is_an_error(settings: Any) -> None:
    settings.RUNS_INNGEST_SIGNING_KEY = "signkey-prod-not-hex"
    [error] = inngest_mode_problems(debug=True, database_url=False)
    assert error.id == "runs.E003"
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    assert inngest_mode_problems(debug=False, database_url=True) == []
