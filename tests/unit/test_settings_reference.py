"""docs/settings.md documents every Tributary setting with its default, and every RUNS_* environment variable the
bundled project reads; the code reads Tributary settings only through runs.conf (so a project that never
defines them gets the defaults instead of an AttributeError)."""

from __future__ import annotations

import re
from pathlib import Path

from runs.conf import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "settings.md").read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    table = REFERENCE.split("## Tributary settings", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(RUNS_[A-Z_]+)` \| `([^`]*)`", table, re.M))
    assert set(rows) == set(SETTINGS)
    assert {name: rows[name] for name in SETTINGS if rows[name] != _shown(SETTINGS[name].default)} == {}


def _shown(value: object) -> str:
    return '""' if value == "" else repr(value)


def test_every_runs_environment_variable_of_the_bundled_project_is_documented() -> None:
    sources = (ROOT / "dashboard" / "settings.py").read_text() + (ROOT / "dashboard" / "keys.py").read_text()
    read = set(re.findall(r"""["'](RUNS_[A-Z_]+)["']""", sources))
    assert {name for name in read if f"`{name}`" not in REFERENCE} == set()


def test_code_reads_tributary_settings_only_through_runs_conf() -> None:
    direct = re.compile(r"settings\.RUNS_|getattr\(settings, [\"']RUNS_")
    offenders = [str(path.relative_to(ROOT)) for top in ("runs", "dashboard") for path in (ROOT / top).rglob("*.py")
                 if path.name != "settings.py" and direct.search(path.read_text())]
    assert offenders == []
