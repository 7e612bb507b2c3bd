"""PLACEHOLDER (helper C's branch): the dashboard codes against this API; helper A's runs/inngest_sync.py is the
real one (in-band/out-of-band sync, signed requests, SdkApp rows). Keep A's version at merge.

`sync_app(url)` PUTs an SDK app's serve URL so that it registers its functions, and says how that went.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SyncResult:
    ok: bool
    app_id: str | None
    kind: str  # "in_band" or "out_of_band" ("" when the app never answered)
    error: str | None
    functions: int


def sync_app(url: str) -> SyncResult:
    try:
        response = httpx.put(url, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return SyncResult(ok=False, app_id=None, kind="", error=f"{url}: {exc}", functions=0)
    if not response.is_success:
        return SyncResult(ok=False, app_id=None, kind="", error=f"{url} answered HTTP {response.status_code}",
                          functions=0)
    return SyncResult(ok=True, app_id=None, kind="out_of_band", error=None, functions=0)
