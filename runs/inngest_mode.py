"""Whether Tributary serves Inngest SDK apps, and how (lead's placeholder; helper A's version replaces it)."""

from __future__ import annotations

import os

from runs import conf


def signing_keys() -> list[str]:
    """The signing key and its fallback, from the settings or the environment ([] in dev mode)."""
    keys = [conf.get(name) if name in conf.SETTINGS else os.environ.get(name, "")
            for name in ("RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK")]
    return [key for key in keys if key]
