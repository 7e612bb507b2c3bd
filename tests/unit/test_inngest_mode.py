"""runs.inngest_mode: signed whenever a signing key is set, dev only when switched on, else off; and the
system check that warns about dev mode where it is unsafe."""

from __future__ import annotations

from typing import Any

import pytest

from runs import inngest_mode
from runs.checks import inngest_mode_problems

KEY = "signkey-prod-" + "0f" * 32


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    for name in ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    settings.RUNS_INNGEST_DEV = False
    settings.RUNS_INNGEST_SIGNING_KEY = ""
    settings.RUNS_INNGEST_SIGNING_KEY_FALLBACK = ""


def test_off_by_default() -> None:
    assert (inngest_mode.mode(), inngest_mode.describe(), inngest_mode.signing_keys()) == ("off", "off", [])


def test_dev_from_the_setting_or_the_environment(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.RUNS_INNGEST_DEV = True
    assert (inngest_mode.mode(), inngest_mode.describe()) == ("dev", "dev mode (no signatures)")
    settings.RUNS_INNGEST_DEV = False
    monkeypatch.setenv("RUNS_INNGEST_DEV", "1")
    assert inngest_mode.mode() == "dev"


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
