"""Which mode Inngest SDK apps are served in (issue 10, protocol document section 10).

- "signed": a signing key is set (`RUNS_INNGEST_SIGNING_KEY`). Call Requests are signed, answers verified, and
  `/fn/register` and the REST reads need the SDKs' bearer of the key (or of `RUNS_INNGEST_SIGNING_KEY_FALLBACK`).
- "dev": no key, and dev mode switched on explicitly (`RUNS_INNGEST_DEV`, or `manage.py serve --dev`): nothing
  is signed or checked, like `inngest dev`.
- "off": neither; the SDK endpoints refuse with a 403 saying how to enable them.

Where each of the three comes from, the same rule for all: the Django setting when the settings module
defines it, whatever its value (an explicit "" or False wins over the environment too); otherwise the
environment variable of the same name, in any project (the SDKs' own configuration lives there too). The
bundled project leaves them undefined, so its environment decides. `serve --dev` (force_dev) turns dev mode on
for its process whatever both say; a signing key still wins over dev mode.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from runs import conf

Mode = Literal["signed", "dev", "off"]

ENABLE_HINT = ("Inngest SDK endpoints are off: set RUNS_INNGEST_SIGNING_KEY (signed mode, the same key as the "
               "apps' INNGEST_SIGNING_KEY) or, for local development only, RUNS_INNGEST_DEV=1 / "
               "`manage.py serve --dev` (no signatures)")

_dev_forced = False


def _read(name: str) -> Any:
    """The setting when the settings module defines it, else the environment variable, parsed as documented."""
    if conf.defined(name):
        return conf.get(name)
    text = os.environ.get(name)
    parse = conf.SETTINGS[name].parse
    return conf.SETTINGS[name].default if text is None or parse is None else parse(text)


def _key(name: str) -> str:
    return str(_read(name) or "").strip()


def signing_keys() -> list[str]:
    """The configured signing keys, main first, then the fallback; empty in dev and off modes."""
    main = _key("RUNS_INNGEST_SIGNING_KEY")
    if not main:
        return []
    fallback = _key("RUNS_INNGEST_SIGNING_KEY_FALLBACK")
    return [main, fallback] if fallback else [main]


def force_dev() -> None:
    """`manage.py serve --dev`: dev mode in this process, whatever the setting and the environment say."""
    global _dev_forced
    _dev_forced = True


def dev_enabled() -> bool:
    if _dev_forced:
        return True
    value = _read("RUNS_INNGEST_DEV")
    return value if isinstance(value, bool) else conf.flag(str(value))  # a settings module may write "1" too


def mode() -> Mode:
    """Signed whenever a signing key is set (dev mode never weakens it); dev only when switched on."""
    if _key("RUNS_INNGEST_SIGNING_KEY"):
        return "signed"
    return "dev" if dev_enabled() else "off"


def describe() -> str:
    """The startup line's words for the mode."""
    return {"signed": "signed mode", "dev": "dev mode (no signatures)", "off": "off"}[mode()]
