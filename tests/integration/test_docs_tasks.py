"""Every ```python block of docs/tasks.md runs, in order, against a real worker.

A block whose first line is `# settings.py` gives the settings the rest runs with; a block whose first line
names another file (`# shop/tasks.py`) is written to that file in a temporary directory on sys.path and
imported before the worker starts (a worker finds tasks by their module path, and functions at its start); the
other blocks are executed in one namespace, as a reader would type them."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from runs import testing

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE_LINE = re.compile(r"#\s*([\w/]+)\.py\s*")


def guide_blocks() -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(settings blocks, (module, source) of file blocks, other blocks), each in the guide's order."""
    settings_blocks, files, code = [], [], []
    for block in BLOCK.findall(GUIDE.read_text()):
        named = FILE_LINE.fullmatch(block.splitlines()[0])
        if named and named.group(1) == "settings":
            settings_blocks.append(block)
        elif named:
            files.append((named.group(1), block))
        else:
            code.append(block)
    return settings_blocks, files, code


def test_the_guide_has_code_to_run() -> None:
    settings_blocks, files, code = guide_blocks()
    assert len(settings_blocks) == 1 and len(files) >= 2 and len(code) >= 4


def test_every_code_block_of_the_tasks_guide_runs(transactional_db: None, fast_retries: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings_blocks, files, code = guide_blocks()
    configured: dict[str, Any] = {}
    exec(compile(settings_blocks[0], "docs/tasks.md: settings.py", "exec"), configured)
    fast_retries.TASKS = configured["TASKS"]

    modules = []
    for path, source in files:
        target = tmp_path / f"{path}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        for package in target.relative_to(tmp_path).parents:
            if package != Path("."):
                (tmp_path / package / "__init__.py").touch()
        target.write_text(source)
        modules.append(path.replace("/", "."))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for module in modules:
            importlib.import_module(module)
        with testing.worker():
            namespace: dict[str, Any] = {"__name__": "docs_tasks_guide"}
            for index, block in enumerate(code, 1):
                exec(compile(block, f"docs/tasks.md: python block {index}", "exec"), namespace)
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] in {m.split(".")[0] for m in modules}]:
            del sys.modules[name]
