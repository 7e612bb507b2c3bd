"""Statuses and operator action names are defined once (runs/status.py) and handed to templates and scripts
(one json_script block read by static/js/common.js): no template or script spells one of them again."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.utils.html import json_script

from dashboard.templatetags import dash
from runs.status import ActionKind, OperatorActionName, RetryMode, RunStatus, StepStatus

ROOT = Path(__file__).resolve().parents[2]
NAMES = {*RunStatus.values, *StepStatus.values, *ActionKind.values, *RetryMode.values, *OperatorActionName.values}
# A quoted name ("failed", 'cancel', `root_cause`), alone between its quotes: a status or action re-spelled.
ALTERNATIVES = "|".join(sorted(map(re.escape, NAMES), key=len, reverse=True))
QUOTED = re.compile(r"""(["'`])(""" + ALTERNATIVES + r""")\1""")


def respelled(paths: list[Path]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in paths for number, line in enumerate(path.read_text().splitlines(), 1)
            if QUOTED.search(line)]


def test_no_script_or_template_spells_a_status_or_an_action_name() -> None:
    scripts = sorted((ROOT / "static" / "js").glob("*.js"))
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert scripts and templates
    assert respelled(scripts + templates) == []


def test_the_guard_finds_a_respelled_name(tmp_path: Path) -> None:
    sample = ROOT / "static" / "js" / "common.js"
    assert QUOTED.search('if (status === "failed")') and QUOTED.search("data-mode='root_cause'")
    assert not QUOTED.search('const failedCount = 0; // "failed runs"')
    assert respelled([sample]) == []


def test_the_vocabulary_block_carries_every_choice_by_name() -> None:
    block = dash.vocabulary_script()
    assert block == json_script(dash.vocabulary_data(), "tributary-vocabulary")
    data = json.loads(re.sub(r"^<script[^>]*>|</script>$", "", block))
    assert data["RunStatus"]["FAILED"] == RunStatus.FAILED
    assert data["RetryMode"] == {"FROM_FAILURE": "from_failure", "FROM_START": "from_start", "ROOT_CAUSE": "root_cause",
                                 "FROM_STEP": "from_step"}
    assert data["OperatorActionName"]["RETRY_ROOT_CAUSE"] == "retry_root_cause"
    assert data["status_labels"]["retrying"] == "Retrying"
    assert data["terminal_run_statuses"] == sorted(["cancelled", "completed", "failed", "skipped"])
    assert data["active_run_statuses"] == ["queued", "running", "waiting"]
