"""The headless Chromium the browser tests launch (tests/e2e and the SDK run-page test in tests/sdk): one place
for its path and launch arguments, and the reason a browser test must be skipped here (no Playwright, no
Chromium). Importing this has no side effects: tests/sdk keeps Django's async guard on."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def missing_reason() -> str | None:
    """Why no browser test can run here, or None when Playwright and Chromium are both there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - the test extras install it
        return "playwright is not installed (pip install -e .[test])"
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None
