"""The one-way layers of runs/ (README "Architecture"), as the import-linter contracts in pyproject.toml state
them: the SDK imports neither the engine nor the store, the engine reaches the store only through its
interface, the store imports neither the engine nor the SDK, nothing in runs imports the dashboard, and no
modules of runs import each other in a cycle (lazy, function-level imports included)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ("sdk", "engine", "store", "neutral", "dashboard", "acyclic")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports reads [tool.importlinter] from the pyproject.toml in its working directory.
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
                          cwd=root, capture_output=True, text=True, timeout=120)


def test_every_layer_contract_is_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


def test_the_contracts_catch_the_sdk_importing_the_store(tmp_path: Path) -> None:
    for package in ("runs", "dashboard"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    steps = tmp_path / "runs" / "sdk" / "steps.py"
    steps.write_text(steps.read_text() + "\n\ndef _sneaky() -> None:\n    from runs.store import intake  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "runs.sdk is not allowed to import runs.store" in result.stdout
    assert "runs.sdk.steps -> runs.store.intake" in result.stdout
