"""Operator pages: server-rendered first (they work without scripts), then kept live by static/js/*.js."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard import incidents as incident_reads
from dashboard import metrics, pages, params, queries, sdk_apps
from dashboard.auth import login_required
from dashboard.exceptions import BadParameter
from dashboard.templatetags.dash import is_run_id
from runs import api_actions, client, inngest_sync
from runs.api import parse_json
from runs.exceptions import ActionRefused, EventNotFound, InvalidEvent, RunNotFound
from runs.inngest.config import origin
from runs.models import OperatorAction, Run, SdkApp
from runs.status import ActionOutcome, OperatorActionName, RunStatus
from runs.store import audit, replays
from runs.store import workers as worker_store

OPERATE = "runs.operate_run"
FILTER_NAMES = ("status", "app", "function", "since", "root_only", "q", "from", "to", "page_size")
_AUDIT_BEFORE = re.compile(r"[1-9][0-9]{0,17}")  # an audit record id: a positive bigint in ASCII digits


@require_GET
@login_required
def runs_page(request: HttpRequest) -> HttpResponse:
    raw = {name: request.GET.get(name, "").strip() for name in FILTER_NAMES}
    data = [text.strip() for text in request.GET.getlist("data") if text.strip()]
    try:
        filters, cursor = params.run_filters(request.GET), params.cursor(request.GET)
        size = params.page_size(request.GET)
    except BadParameter as exc:  # a hand-edited URL: say what is wrong, show the unfiltered first page
        messages.error(request, f"Ignored the filters: {exc}")
        raw, data = dict.fromkeys(FILTER_NAMES, ""), []
        filters, cursor, size = params.RunFilters(), None, params.DEFAULT_LIMIT
    if "root_only" not in request.GET and not filters.narrows():
        # The unfiltered list opens on root runs (one row per tree); the form's hidden root_only=0 turns it off.
        filters = dataclasses.replace(filters, root_only=True)
    page = queries.list_runs(filters, cursor=cursor, limit=size, count=True)
    query: dict[str, Any] = {name: value for name, value in raw.items() if value}
    query["root_only"] = "1" if filters.root_only else "0"
    if data:
        query["data"] = data
    return render(request, "runs/list.html", {
        "rows": page.rows, "filters": {**raw, "root_only": filters.root_only, "data": bool(data)},
        "data_filters": data or [""],
        "statuses": RunStatus.choices, "since_choices": pages.SINCE_CHOICES, "options": pages.filter_options(),
        "page_sizes": pages.PAGE_SIZES, "page_size": size,
        "total": min(page.total or 0, queries.COUNT_CAP),
        "total_capped": (page.total or 0) > queries.COUNT_CAP,
        "older_url": f"?{urlencode({**query, 'cursor': page.next_cursor}, doseq=True)}" if page.next_cursor else "",
        "newer_url": f"?{urlencode({**query, 'cursor': page.prev_cursor}, doseq=True)}" if page.prev_cursor else "",
        "newest_url": f"?{urlencode(query, doseq=True)}" if cursor else "",
        "live_filters": {**raw, "root_only": filters.root_only, "first_page": page.prev_cursor is None,
                         "searching": bool(filters.q or filters.data or filters.start or filters.end)},
        "can_operate": request.user.has_perm(OPERATE), "bulk_config": pages.bulk_config(filters),
    })


MAX_ROWS_PER_REQUEST = 50


@require_GET
def run_rows(request: HttpRequest) -> HttpResponse:
    """Rows of the runs table as HTML (runs/_run_rows.html, the runs page's own rows): `?id=...` (repeated, at
    most MAX_ROWS_PER_REQUEST) for the runs a live update changed, or the page's filters for the first page
    again (after a reconnect). The runs page's script asks; a refusal is JSON, never a login page."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in to see runs"}, status=401)
    ids = request.GET.getlist("id")
    if ids:
        if len(ids) > MAX_ROWS_PER_REQUEST:
            return JsonResponse({"error": f"at most {MAX_ROWS_PER_REQUEST} ids at a time"}, status=400)
        bad = next((run_id for run_id in ids if not is_run_id(run_id)), None)
        if bad is not None:
            return JsonResponse({"error": f"not a run id: {bad[:40]!r}"}, status=400)
        rows, show_empty = queries.run_rows(ids), False
    else:
        try:
            filters, size = params.run_filters(request.GET), params.page_size(request.GET)
        except BadParameter as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        if "root_only" not in request.GET and not filters.narrows():  # as the runs page defaults
            filters = dataclasses.replace(filters, root_only=True)
        rows, show_empty = queries.list_runs(filters, limit=size).rows, True
    return render(request, "runs/_run_rows.html", {"rows": rows, "show_empty": show_empty,
                                                   "selectable": request.user.has_perm(OPERATE)})


@require_GET
@login_required
def run_page(request: HttpRequest, run_id: str) -> HttpResponse:
    try:
        page = pages.run_page(run_id)
    except RunNotFound:
        return not_found_page(request, "Run not found", f"There is no run {run_id[:40]!r}: a typo, or it was pruned.",
                              search=run_id[:40])
    run = page.run
    return render(request, "runs/detail.html", {
        "page": page, "run": run, "can_operate": request.user.has_perm(OPERATE),
        "graph_config": {
            "run_id": run.id, "root_run_id": run.root_run_id, "version": run.version, "status": run.status,
            "propagation": [r.id for r in page.propagation],
        },
    })


@require_GET
@login_required
def functions_page(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/functions.html", {"rows": queries.function_stats(), "statuses": RunStatus.choices,
                                                   "can_operate": request.user.has_perm(OPERATE)})


@require_GET
@login_required
def workers_page(request: HttpRequest) -> HttpResponse:
    """Live worker processes, then the ones that died (with the runs they held) and the ones that stopped."""
    workers = worker_store.list_workers(include_gone=True)
    return render(request, "runs/workers.html", {
        "live": [info for info in workers if info.state == "live"],
        "dead": [info for info in workers if info.state == "dead"],
        "stopped": [info for info in workers if info.state == "stopped"],
        "dead_after": int(worker_store.dead_after().total_seconds()),
    })


@require_GET
@login_required
def metrics_page(request: HttpRequest) -> HttpResponse:
    """Charts of runs started/completed/failed and p50/p95 duration, and the backlog; the script fetches
    GET api/metrics for the window and function chosen (the form works without it, reloading the page)."""
    try:
        window, function = metrics.window_param(request.GET), metrics.function_param(request.GET)
    except BadParameter as exc:
        messages.error(request, f"Showing all functions over the last hour: {exc}")
        window, function = metrics.WINDOWS[metrics.DEFAULT_WINDOW], None
    data = metrics.chart_data(window, function)
    return render(request, "runs/metrics.html", {
        "data": data, "windows": metrics.WINDOWS.values(), "window": window,
        "function": data["function"] or "", "functions": metrics.function_choices(), "status": RunStatus,
    })


EVENT_FILTER_NAMES = ("name", "q", "from", "to")


@require_GET
@login_required
def incidents_page(request: HttpRequest) -> HttpResponse:
    """Failed roots grouped by their root cause's signature, newest failure first; new failures join live."""
    return render(request, "runs/incidents.html", {"rows": incident_reads.list_incidents(),
                                                   "limit": incident_reads.DEFAULT_LIMIT})


@require_GET
def incident_rows(request: HttpRequest) -> HttpResponse:
    """The Incidents table's rows again (runs/_incident_rows.html), for its live refresh; a refusal is JSON."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in to see incidents"}, status=401)
    return render(request, "runs/_incident_rows.html", {"rows": incident_reads.list_incidents()})


@require_GET
@login_required
def incident_page(request: HttpRequest, incident_id: str) -> HttpResponse:
    try:
        row = incident_reads.get_incident(incident_id)
    except RunNotFound:  # IncidentNotFound
        return not_found_page(request, "Incident not found",
                              f"There is no incident {incident_id[:40]!r}: its runs may have been pruned.")
    return render(request, "runs/incident.html", {
        "incident": row, "roots": incident_reads.roots(row.id), "shown": incident_reads.SHOWN_ROOTS,
        "can_operate": request.user.has_perm(OPERATE),
        "incident_config": {"id": row.id, "open": row.open},
    })


def _events_context(request: HttpRequest, form: dict[str, str]) -> dict[str, Any]:
    raw = {name: request.GET.get(name, "").strip()[:params.MAX_ID_LENGTH] for name in EVENT_FILTER_NAMES}
    try:
        filters, cursor = params.event_filters(request.GET), params.cursor(request.GET)
    except BadParameter as exc:  # a hand-edited URL: say what is wrong, show every event
        messages.error(request, f"Ignored the filters: {exc}")
        raw = dict.fromkeys(EVENT_FILTER_NAMES, "")
        filters, cursor = params.EventFilters(), None
    page = queries.list_events(filters, cursor=cursor, limit=params.DEFAULT_LIMIT)
    query = {name: value for name, value in raw.items() if value}
    return {"rows": page.rows, "can_send": request.user.has_perm(OPERATE), "form": form, "filters": raw,
            "filtered": filters.narrows(), "names": queries.recent_event_names(),
            "older_url": f"?{urlencode({**query, 'cursor': page.next_cursor})}" if page.next_cursor else "",
            "newer_url": f"?{urlencode({**query, 'cursor': page.prev_cursor})}" if page.prev_cursor else "",
            "newest_url": f"?{urlencode(query)}" if cursor else ""}


@require_GET
@login_required
def events_page(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/events.html", _events_context(request, {"name": "", "data": "{}"}))


@require_POST
@login_required
def replay_event(request: HttpRequest, event_id: str) -> HttpResponse:
    """The Events page's Replay button (a form: CSRF by Django's middleware): the same name and data again as a
    new event (runs/store/replays.py, audited), then back to the events with what happened."""
    if not request.user.has_perm(OPERATE):
        return HttpResponseForbidden("You may not replay events (needs the runs.operate_run permission).")
    try:
        if len(event_id) > api_actions.MAX_EVENT_ID_CHARS or "\x00" in event_id:
            raise EventNotFound(f"no event with id {event_id[:64]!r}")
        replay = replays.replay_event(event_id, user=request.user)
    except (EventNotFound, ActionRefused) as exc:
        messages.error(request, f"Not replayed: {exc}")
        return redirect("tributary:events")
    started = len(replay.run_ids)
    messages.success(request, f"Replayed {replay.name} as {replay.event_id}: {started} run{pluralize(started)} started.")
    return redirect(f"{reverse('tributary:events')}?{urlencode({'q': replay.event_id})}")


def _parse_payload(raw: str) -> dict[str, Any]:
    data = parse_json((raw or "{}").encode())  # strict; too deep is a ValueError, not a RecursionError
    if not isinstance(data, dict):
        raise ValueError("data must be a JSON object")
    return data


@require_POST
@login_required
def send_event(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(OPERATE):
        return HttpResponseForbidden("You may not send events (needs the runs.operate_run permission).")
    name = request.POST.get("name", "").strip()
    raw = request.POST.get("data", "")
    try:
        data = _parse_payload(raw)
        event_id = client.send(name, data)
    except (ValueError, InvalidEvent) as exc:  # json.JSONDecodeError is a ValueError
        messages.error(request, f"Not sent: {exc}")
        return render(request, "runs/events.html", _events_context(request, {"name": name, "data": raw}),
                      status=400)
    messages.success(request, f"Sent {name} ({event_id}).")
    run_id = request.POST.get("run_id", "")
    if is_run_id(run_id) and Run.objects.filter(id=run_id).exists():
        # Sent from a run page for the event its step waits for: on that run's audit list, and back to it.
        audit.record_action(user=request.user, action=OperatorActionName.SEND_EVENT, run_ids=[run_id],
                            detail=f"sent {name} ({event_id}) for its wait_for_event")
        return redirect("tributary:run", run_id=run_id)
    return redirect("tributary:events")


@require_GET
@login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    """Operator actions, newest first (O6): who, when, what, which runs, outcome, progress of bulk ones."""
    form = {name: request.GET.get(name, "").strip()[:200] for name in pages.AUDIT_FILTERS}
    before_text = request.GET.get("before", "").strip()
    before = int(before_text) if _AUDIT_BEFORE.fullmatch(before_text) else None  # ids are positive bigints
    entries: list[OperatorAction]
    older: int | None
    problem = next((f"{name} contains a NUL character" for name, value in form.items() if "\x00" in value), None)
    if problem:  # PostgreSQL cannot compare text holding NUL: the form with the error, not a 500
        messages.error(request, f"Not filtered: {problem}.")
        form = {name: value.replace("\x00", "") for name, value in form.items()}
        entries, older, before = [], None, None
    else:
        entries, older = pages.audit_entries(form, before=before)
    query = {name: value for name, value in form.items() if value}
    return render(request, "runs/audit.html", {
        "entries": entries, "form": form, "actions": pages.ACTION_LABELS.items(), "outcomes": pages.OUTCOMES,
        "older_url": f"?{urlencode({**query, 'before': older})}" if older else "",
        "newest_url": f"?{urlencode(query)}" if before else "",
        "in_progress": any(entry.outcome == ActionOutcome.RUNNING for entry in entries),
    }, status=400 if problem else 200)


# --- apps (Inngest SDK apps and native ones) ------------------------------------------------------------------
MAX_APP_URL_CHARS = 2000
# A host as URLs name one: DNS labels (single-label docker-compose names like `app` too), IPv4, or [IPv6].
_HOST = re.compile(r"[\w-]+(\.[\w-]+)*\.?|\[[0-9A-Fa-f:.]+\]")


def app_url_problem(url: str) -> str | None:
    """Why `url` cannot be an SDK app's serve URL, or None. Any http(s) URL with a host: not Django's
    URLValidator, which refuses single-label hosts (`http://app:3000/api/inngest` in docker compose). No
    credentials: the sync would send them to the app, and they would show on the Apps page."""
    if not url:
        return "a URL is required"
    if len(url) > MAX_APP_URL_CHARS:
        return f"at most {MAX_APP_URL_CHARS} characters"
    if any(char.isspace() or not char.isprintable() for char in url):
        return "no spaces or control characters"
    if not url.startswith(("http://", "https://")):
        return "the scheme must be http or https"
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # a malformed [IPv6] literal
        netloc = ""
    if "@" in netloc:
        return "no user name or password in the URL"
    host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
    if not _HOST.fullmatch(host) or origin(url) is None:
        return "it needs a host (and a port from 1 to 65535, if any)"
    return None


def _apps_context(request: HttpRequest, form_url: str = "") -> dict[str, Any]:
    sdk, native = sdk_apps.apps_overview()
    return {"sdk_apps": sdk, "native_apps": native, "can_operate": request.user.has_perm(OPERATE),
            "form": {"url": form_url}}


@require_GET
@login_required
def apps_page(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/apps.html", _apps_context(request))


def _sync_and_report(request: HttpRequest, action: str, url: str) -> HttpResponse:
    """Ask the app at `url` to register again (runs.inngest_sync), audit it and say how it went."""
    try:
        result = inngest_sync.sync_app(url)
    except Exception as exc:  # the sync module reports failures itself; anything else is still the app's failure
        result = inngest_sync.SyncResult(ok=False, app_id=None, kind="", error=f"{type(exc).__name__}: {exc}",
                                         functions=0)
    if result.ok:
        kind = f" ({result.kind.replace('_', '-')})" if result.kind else ""
        detail = f"{result.app_id or url}{kind}: {result.functions} function{pluralize(result.functions)}"
        messages.success(request, f"Synced {detail}.")
    else:
        detail = f"{url}: {result.error or 'sync failed'}"
        messages.error(request, f"Sync failed: {detail}")
    audit.record_action(user=request.user, action=action, run_ids=[], detail=detail,
                        outcome=ActionOutcome.DONE if result.ok else ActionOutcome.FAILED)
    return redirect("tributary:apps")


def _refuse(request: HttpRequest, action: str, status: int, reason: str, form_url: str = "") -> HttpResponse:
    audit.record_action(user=request.user, action=action, run_ids=[], outcome=ActionOutcome.REFUSED,
                        detail=reason)
    messages.error(request, reason)
    return render(request, "runs/apps.html", _apps_context(request, form_url), status=status)


@require_POST
@login_required
def sync_app(request: HttpRequest) -> HttpResponse:
    """Sync now: the app (by its app id) registers its functions again."""
    if not request.user.has_perm(OPERATE):
        return HttpResponseForbidden("You may not sync apps (needs the runs.operate_run permission).")
    app_id = request.POST.get("app_id", "").strip()
    app = SdkApp.objects.filter(app_id=app_id).first() if app_id and "\x00" not in app_id else None
    if app is None:
        return _refuse(request, OperatorActionName.SYNC_APP, 404, f"Not synced: no SDK app {app_id[:200]!r}.")
    return _sync_and_report(request, OperatorActionName.SYNC_APP, app.url)


@require_POST
@login_required
def add_app(request: HttpRequest) -> HttpResponse:
    """Add app by URL: the SDK app served there registers its functions (the same sync as Sync now)."""
    if not request.user.has_perm(OPERATE):
        return HttpResponseForbidden("You may not add apps (needs the runs.operate_run permission).")
    url = request.POST.get("url", "").strip()
    problem = app_url_problem(url)
    if problem:
        return _refuse(request, OperatorActionName.ADD_APP, 400, f"Not added: {problem} (an http or https URL).",
                       url[:MAX_APP_URL_CHARS])
    return _sync_and_report(request, OperatorActionName.ADD_APP, url)


# --- 404s: the app's layout for people, JSON for programs ---------------------------------------------------------
_SITE_JSON_PREFIXES = ("fn/", "e/", "v1/")  # the Inngest SDK endpoints at the site root (runs/inngest_urls.py)


def _wants_json(request: HttpRequest) -> bool:
    """The JSON API (below the dashboard's mount) and the Inngest endpoints answer JSON, whatever the path."""
    path = request.path
    try:
        base = reverse("tributary:home")
    except NoReverseMatch:  # a project's 404 outside the dashboard's URLs
        base = get_script_prefix()
    root = get_script_prefix()
    return path.startswith(base + "api/") or any(path.startswith(root + prefix) for prefix in _SITE_JSON_PREFIXES)


def not_found_page(request: HttpRequest, title: str, detail: str, *, search: str = "") -> HttpResponse:
    return render(request, "tributary/404.html", {"title": title, "detail": detail, "search": search}, status=404)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404 (dashboard/site_urls.py; projects may point theirs here): JSON under /api/ and the Inngest
    endpoints, the app's layout with a way back everywhere else."""
    if _wants_json(request):
        return JsonResponse({"error": f"not found: {request.path[:200]}"}, status=404)
    return not_found_page(request, "Page not found", f"Nothing is served at {request.path[:200]}.")
