"""Which mode Inngest SDK apps are served in (issue 10, protocol document section 10).

- "signed": a signing key is set (`RUNS_INNGEST_SIGNING_KEY`, setting or environment). Call Requests are
  signed, answers verified, and `/fn/register` and the REST reads need the SDKs' bearer of the key (or of
  `RUNS_INNGEST_SIGNING_KEY_FALLBACK`).
- "dev": no key, and dev mode switched on explicitly (`RUNS_INNGEST_DEV`, or `manage.py serve --dev`): nothing
  is signed or checked, like `inngest dev`.
- "off": neither; the SDK endpoints refuse with a 403 saying how to enable them.

Both settings are also read from the environment in any project (the SDKs' own configuration lives there
too, and `serve --dev` sets the variable for its process).
"""

from __future__ import annotations

import os
from typing import Literal

from runs import conf

Mode = Literal["signed", "dev", "off"]

ENABLE_HINT = ("Inngest SDK endpoints are off: set RUNS_INNGEST_SIGNING_KEY (signed mode, the same key as the "
               "apps' INNGEST_SIGNING_KEY) or, for local development only, RUNS_INNGEST_DEV=1 / "
               "`manage.py serve --dev` (no signatures)")


def _read(name: str) -> str:
    value = conf.get(name)
    return str(value or os.environ.get(name, "") or "").strip()


def signing_keys() -> list[str]:
    """The configured signing keys, main first, then the fallback; empty in dev and off modes."""
    main = _read("RUNS_INNGEST_SIGNING_KEY")
    if not main:
        return []
    fallback = _read("RUNS_INNGEST_SIGNING_KEY_FALLBACK")
    return [main, fallback] if fallback else [main]


def dev_enabled() -> bool:
    if conf.get("RUNS_INNGEST_DEV") is True:
        return True
    return os.environ.get("RUNS_INNGEST_DEV", "").strip().lower() in ("1", "true", "yes", "on")


def mode() -> Mode:
    """Signed whenever a signing key is set (dev mode never weakens it); dev only when switched on."""
    if _read("RUNS_INNGEST_SIGNING_KEY"):
        return "signed"
    return "dev" if dev_enabled() else "off"


def describe() -> str:
    """The startup line's words for the mode."""
    return {"signed": "signed mode", "dev": "dev mode (no signatures)", "off": "off"}[mode()]
