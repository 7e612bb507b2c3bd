"""Event intake: validate events, store them once, start the runs they trigger, resolve waits on them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from runs import conf
from runs.exceptions import IntakeLimitExceeded, InvalidEvent
from runs.models import CancelRule, Event, Function, Run, Step
from runs.sdk.app import RESERVED_PREFIX
from runs.sdk.values import JSON_NUL, MAX_JSON_DEPTH, lookup_path, too_deep
from runs.status import ACTIVE_RUN_STATUSES, RunStatus, StepStatus
from runs.store import flow, notify
from runs.store.rows import new_run, publish_new_runs, wake

MAX_EVENT_BYTES = 512 * 1024
MAX_NAME_CHARS = 200  # Event.name / Run.event_name columns


def max_events_per_request() -> int:
    return int(conf.get("RUNS_INTAKE_MAX_EVENTS"))


def normalise_events(events: Sequence[Any], *, internal: bool = False) -> list[dict[str, Any]]:
    """Validated copies of `events` with id and ts filled in; InvalidEvent names the first problem."""
    if not isinstance(events, list | tuple) or not events:
        raise InvalidEvent("expected an event or a non-empty list of events")
    if len(events) > max_events_per_request():
        # One transaction stores them all: a bound keeps it (and the runs it starts) reasonably small.
        raise IntakeLimitExceeded(f"{len(events)} events in one request; the limit is {max_events_per_request()} "
                                  "(RUNS_INTAKE_MAX_EVENTS)")
    result = []
    for index, event in enumerate(events):
        where = f"event {index}" if len(events) > 1 else "event"
        if not isinstance(event, dict):
            raise InvalidEvent(f"{where} must be an object, not {type(event).__name__}")
        name = event.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidEvent(f"{where} needs a non-empty string 'name'")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidEvent(f"{where}: 'name' is longer than {MAX_NAME_CHARS} characters")
        if name.startswith(RESERVED_PREFIX) and not internal:
            raise InvalidEvent(f"{where}: names starting with {RESERVED_PREFIX!r} are reserved")
        data = event.get("data")
        data = {} if data is None else data
        user = event.get("user")
        user = {} if user is None else user
        if not isinstance(data, dict):
            raise InvalidEvent(f"{where}: 'data' must be an object, not {type(data).__name__}")
        if not isinstance(user, dict):
            raise InvalidEvent(f"{where}: 'user' must be an object, not {type(user).__name__}")
        for field, value in (("data", data), ("user", user)):
            if too_deep(value):
                raise InvalidEvent(f"{where}: '{field}' nests objects or arrays deeper than {MAX_JSON_DEPTH} levels")
        event_id = event.get("id") or uuid.uuid4().hex
        if not isinstance(event_id, str) or len(event_id) > 64:
            raise InvalidEvent(f"{where}: 'id' must be a string of at most 64 characters")
        ts = event.get("ts") or int(time.time() * 1000)
        if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 2**63:
            raise InvalidEvent(f"{where}: 'ts' must be integer milliseconds since the epoch")
        clean = {"id": event_id, "name": name, "data": data, "user": user, "ts": ts}
        try:
            # ensure_ascii=False: a lone surrogate fails here (UnicodeEncodeError) instead of in the database.
            text = json.dumps(clean, ensure_ascii=False, allow_nan=False)
            size = len(text.encode())
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidEvent(f"{where}: data is not JSON: {exc}") from None
        if JSON_NUL.search(text):
            # PostgreSQL text and jsonb cannot hold U+0000.
            raise InvalidEvent(f"{where} contains a NUL character (\\u0000), which cannot be stored")
        if size > MAX_EVENT_BYTES:
            raise IntakeLimitExceeded(f"{where} is {size} bytes; the limit is {MAX_EVENT_BYTES} (512 KiB)")
        result.append(json.loads(json.dumps(clean)))
    return result


def send_events(events: Sequence[Any], *, internal: bool = False) -> list[str]:
    """Store and dispatch events in one transaction; an id seen before is not processed twice."""
    return store_events(normalise_events(events, internal=internal))


def store_events(batch: list[dict[str, Any]]) -> list[str]:
    """Store and dispatch events `normalise_events` returned, in one transaction; their ids, in order."""
    with transaction.atomic():
        dispatch_events_txn(batch)
    return [event["id"] for event in batch]


def dispatch_events_txn(batch: list[dict[str, Any]], *, sent_by_run_id: str | None = None,
                        only_functions: set[tuple[str, str]] | None = None) -> list[Run]:
    """Inside a transaction: store new events, start triggered runs, resolve waiting steps."""
    unique: dict[str, dict[str, Any]] = {}
    for event in batch:
        unique.setdefault(event["id"], event)  # the first of each id in the batch, in order
    stored = _insert_new_events(list(unique.values()), sent_by_run_id or "")
    fresh = [event for event in unique.values() if event["id"] in stored]
    if not fresh:
        return []
    names = {e["name"] for e in fresh}
    functions: dict[str, list[Function]] = {}
    for function in Function.objects.filter(trigger__in=names):
        if only_functions is not None and (function.app_id, function.function_id) not in only_functions:
            continue
        functions.setdefault(function.trigger, []).append(function)
    now = timezone.now()
    _cancel_matching_runs_txn(fresh, names, now)
    runs = [
        new_run(app_id=f.app_id, function_id=f.function_id, event=e, now=now, triggered_by_run_id=sent_by_run_id)
        for e in fresh for f in functions.get(e["name"], [])
    ]
    if runs:
        configs = {(f.app_id, f.function_id): f.config or {} for group in functions.values() for f in group}
        superseded = flow.admit_txn(runs, configs, now)
        Run.objects.bulk_create(runs)
        publish_new_runs([*runs, *superseded])
        if any(run.status == RunStatus.QUEUED for run in runs):
            notify.runs_ready()
    _resolve_waits_txn(fresh, names, now)
    return runs


_EVENT_COLUMNS = ("id", "name", "data", "user", "ts", "received_at", "sent_by_run_id")


def _insert_new_events(events: list[dict[str, Any]], sent_by_run_id: str) -> set[str]:
    """Insert the events whose id is new and return those ids: INSERT ... ON CONFLICT DO NOTHING RETURNING.

    The primary key decides, in one statement per chunk, whatever the batch size (no lock per id: 20,000 advisory
    locks in one transaction exhausted PostgreSQL's lock table). Two senders of one id at once: the second's
    insert waits for the first transaction and then skips the row, so the event is processed once, without
    an error for either sender."""
    by_name = {field.name: field for field in Event._meta.concrete_fields}
    fields = [by_name[name] for name in _EVENT_COLUMNS]
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    max_params = connection.features.max_query_params or 999
    chunk = max(1, min(1000, max_params // len(fields)))
    now = timezone.now()
    stored: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(events), chunk):
            part = events[start:start + chunk]
            params: list[Any] = []
            for event in part:
                values = {**event, "received_at": now, "sent_by_run_id": sent_by_run_id}
                params.extend(field.get_db_prep_save(values[field.name], connection) for field in fields)
            rows = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(part))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {rows} ON CONFLICT (id) DO NOTHING RETURNING id",
                           params)
            stored.update(row[0] for row in cursor.fetchall())
    return stored


def _cancel_matching_runs_txn(events: list[dict[str, Any]], names: set[str], now: datetime) -> None:
    """Cancel-on rules: an incoming event cancels active runs of a function whose events agree on `match`."""
    rules = list(CancelRule.objects.filter(event__in=names))
    if not rules:
        return
    from runs.store.actions import cancel_runs_txn

    done: set[str] = set()
    for rule in rules:
        candidates = Run.objects.select_for_update().filter(
            app_id=rule.app_id, function_id=rule.function_id, status__in=list(ACTIVE_RUN_STATUSES))
        if rule.timeout_ms:
            candidates = candidates.filter(created_at__gte=now - timedelta(milliseconds=rule.timeout_ms))
        for event in events:
            if event["name"] != rule.event:
                continue
            expected = lookup_path(event, rule.match) if rule.match else None
            doomed = [run for run in candidates if run.id not in done
                      and (not rule.match or lookup_path(_event_of(run), rule.match) == expected)]
            if doomed:
                cancel_runs_txn(doomed, reason=f"cancelled by event {event['name']} ({event['id']})", now=now)
                done.update(run.id for run in doomed)


def _event_of(run: Run) -> dict[str, Any]:
    return {"id": run.event_id, "name": run.event_name, "data": run.event_data, "user": run.event_user,
            "ts": run.event_ts}


def _resolve_waits_txn(events: list[dict[str, Any]], names: set[str], now: Any) -> None:
    waiting = list(Step.objects.filter(wait_event__in=names, status=StepStatus.WAITING)
                   .filter(run__status__in=[RunStatus.WAITING, RunStatus.RUNNING, RunStatus.QUEUED])
                   .only("id", "run_id", "wait_event", "wait_match", "wait_value"))
    woken = []
    for step in waiting:
        for event in events:
            if event["name"] != step.wait_event:
                continue
            if step.wait_match and lookup_path(event, step.wait_match) != step.wait_value:
                continue
            updated = Step.objects.filter(id=step.id, status=StepStatus.WAITING).update(
                status=StepStatus.COMPLETED, output=event, ended_at=now, wait_event=None)
            if updated:
                woken.append(step.run_id)
            break
    if woken:
        wake(woken, now)
