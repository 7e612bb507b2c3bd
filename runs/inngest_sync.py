"""Asking an SDK app to sync (protocol document section 3): `sync_app(url)` PUTs its serve URL.

- Signed mode, in-band: a signed PUT `{"url": url}` with `X-Inngest-Sync-Kind: in_band`; the SDK answers with
  its whole config (signed), which is verified and registered from the answer. Both SDKs do this in cloud mode.
- Dev mode, out-of-band: a plain PUT; the SDK POSTs `/fn/register` to the server its `INNGEST_DEV` /
  `INNGEST_BASE_URL` names before answering, so the app's row must have been updated by then (else it is
  pointed at another server, and the result says so).

Every failure (unreachable, an HTTP error, a body that is not JSON, a signature that does not verify, a
refused registration) is a SyncResult with ok False and a clear error, and is recorded on the app's row when
the app is known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from django.utils import timezone

from runs import inngest_mode
from runs.inngest import signing
from runs.models import Function, SdkApp
from runs.store.sdk_apps import InvalidRegistration, record_sync_failure, register_app

# How long one sync may take: the SDK answers a PUT only after its own POST /fn/register came back.
SYNC_TIMEOUT_SECONDS = 15.0
_MAX_QUOTED = 300
_DEV_APP_HINT = (" (the app is in dev mode; this server is in signed mode: give the app INNGEST_SIGNING_KEY, "
                 "INNGEST_DEV=0 and INNGEST_BASE_URL=<this server>)")


@dataclass(frozen=True, slots=True)
class SyncResult:
    ok: bool
    app_id: str | None
    kind: str  # "in_band" (signed mode) or "out_of_band" (dev mode)
    error: str | None = None
    functions: int = 0


def _quote(body: bytes) -> str:
    text = body[:_MAX_QUOTED].decode(errors="replace").strip()
    return text + ("..." if len(body) > _MAX_QUOTED else "")


def sync_app(url: str) -> SyncResult:
    """PUT the app at `url` so it syncs; the outcome, also recorded on its SdkApp row when the app is known."""
    mode = inngest_mode.mode()
    kind = "in_band" if mode == "signed" else "out_of_band"
    if mode == "off":
        return SyncResult(ok=False, app_id=None, kind=kind, error=inngest_mode.ENABLE_HINT)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return SyncResult(ok=False, app_id=None, kind=kind, error=f"not an http(s) URL: {str(url)[:200]!r}")
    result = _in_band(url) if mode == "signed" else _out_of_band(url)
    if not result.ok and result.error:
        record_sync_failure(error=result.error, kind=kind, url=None if result.app_id else url,
                            app_id=result.app_id)
    return result


def _put(url: str, *, content: bytes | None, headers: dict[str, str]) -> httpx.Response | str:
    """The app's answer, or why there is none."""
    try:
        with httpx.Client(timeout=SYNC_TIMEOUT_SECONDS, follow_redirects=False) as client:
            return client.put(url, content=content, headers=headers)
    except httpx.TimeoutException:
        return f"the app at {url} did not answer within {SYNC_TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as exc:
        return f"could not reach the app at {url}: {exc.__class__.__name__}: {exc}"


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _in_band(url: str) -> SyncResult:
    keys = inngest_mode.signing_keys()
    body = signing.canonical({"url": url})
    try:
        signature = signing.sign(body, keys[0])
    except ValueError:
        return SyncResult(ok=False, app_id=None, kind="in_band",
                          error="RUNS_INNGEST_SIGNING_KEY is not a valid signing key (signkey-<env>-<hex>)")
    response = _put(url, content=body, headers={
        "Content-Type": "application/json", "X-Inngest-Signature": signature,
        "X-Inngest-Sync-Kind": "in_band", "X-Inngest-Server-Kind": "cloud"})
    if isinstance(response, str):
        return SyncResult(ok=False, app_id=None, kind="in_band", error=response)
    if response.status_code != 200:
        hint = ""
        if response.status_code == 401:
            hint = " (is the app's INNGEST_SIGNING_KEY this server's RUNS_INNGEST_SIGNING_KEY?)"
        elif b"server_kind_mismatch" in response.content:
            hint = _DEV_APP_HINT
        return SyncResult(ok=False, app_id=None, kind="in_band",
                          error=f"the app answered HTTP {response.status_code}{hint}: {_quote(response.content)}")
    if response.headers.get("X-Inngest-Sync-Kind") != "in_band":
        return SyncResult(ok=False, app_id=None, kind="in_band",
                          error=f"the app did not answer in-band{_DEV_APP_HINT}: {_quote(response.content)}")
    try:
        signing.verify(response.content, response.headers.get("X-Inngest-Signature"), keys)
    except signing.SignatureError as exc:
        return SyncResult(ok=False, app_id=None, kind="in_band", error=f"the app's answer is refused: {exc}")
    answer = _json(response)
    if not isinstance(answer, dict):
        return SyncResult(ok=False, app_id=None, kind="in_band",
                          error=f"the app's answer is not a JSON object: {_quote(response.content)}")
    app_id = answer.get("app_id") if isinstance(answer.get("app_id"), str) else None
    payload = {"appName": app_id, "url": answer.get("url") or url, "functions": answer.get("functions"),
               "sdk": _sdk_of(answer), "framework": answer.get("framework")}
    try:
        registered = register_app(payload, sdk_header=response.headers.get("X-Inngest-SDK", ""),
                                  framework_header=response.headers.get("X-Inngest-Framework", ""), kind="in_band")
    except InvalidRegistration as exc:
        known = app_id if app_id and SdkApp.objects.filter(app_id=app_id).exists() else None
        return SyncResult(ok=False, app_id=known, kind="in_band", error=f"registration refused: {exc}")
    return SyncResult(ok=True, app_id=registered.app_id, kind="in_band", functions=registered.functions)


def _sdk_of(answer: dict[str, Any]) -> str:
    """"py:v0.5.19" as the out-of-band body names it: js answers `sdk`, py only language and version."""
    if isinstance(answer.get("sdk"), str) and answer["sdk"]:
        return answer["sdk"]
    language, version = answer.get("sdk_language"), answer.get("sdk_version")
    if isinstance(language, str) and isinstance(version, str):
        return f"{language}:v{version.removeprefix('v')}"
    return ""


def _out_of_band(url: str) -> SyncResult:
    started = timezone.now()
    response = _put(url, content=None, headers={})
    if isinstance(response, str):
        return SyncResult(ok=False, app_id=None, kind="out_of_band", error=response)
    answer = _json(response)
    # inngest-py relays our /fn/register answer (with 200 even when it was an error), inngest-js answers
    # {message, modified} with our status: an `error` key or a non-2xx status is a failed sync either way.
    if answer is None:
        return SyncResult(ok=False, app_id=None, kind="out_of_band",
                          error=f"the app answered HTTP {response.status_code}, not JSON: {_quote(response.content)}")
    reason = answer.get("error") if isinstance(answer, dict) else None
    if not 200 <= response.status_code < 300 or reason:
        message = reason or (answer.get("message") if isinstance(answer, dict) else None) or _quote(response.content)
        return SyncResult(ok=False, app_id=None, kind="out_of_band",
                          error=f"the app answered HTTP {response.status_code}: {message}")
    # The SDK reports the URL it was PUT at, unless INNGEST_SERVE_ORIGIN/PATH say otherwise: then the one app
    # that registered since the PUT began is it (with several at once, which one cannot be told).
    app = SdkApp.objects.filter(url=url, last_sync_at__gte=started).first()
    if app is None:
        recent = list(SdkApp.objects.filter(last_sync_at__gte=started, last_sync_ok=True,
                                            last_sync_kind="out_of_band")[:2])
        app = recent[0] if len(recent) == 1 else None
    if app is None:
        return SyncResult(ok=False, app_id=None, kind="out_of_band",
                          error="the app answered the sync but did not register here: point its INNGEST_DEV "
                                "(or INNGEST_BASE_URL) at this server's URL")
    return SyncResult(ok=True, app_id=app.app_id, kind="out_of_band",
                      functions=Function.objects.filter(app_id=app.app_id).count())
