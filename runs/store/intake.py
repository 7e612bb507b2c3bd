"""Event intake: validate events, store them once, start the runs they trigger, resolve waits on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from runs.events import MAX_EVENT_BYTES, MAX_NAME_CHARS, max_events_per_request, normalise_events
from runs.inngest import cel
from runs.models import CancelRule, Event, Function, Run, Step
from runs.status import ACTIVE_RUN_STATUSES, RunStatus, StepStatus
from runs.store import flow, notify, sql
from runs.store.cancelling import cancel_runs_txn
from runs.store.ending import Finished
from runs.store.inserts import insert_rows
from runs.store.rows import new_run, publish_new_runs, wake
from runs.values import lookup_path

# Validation is the neutral runs.events module's (the SDK's step.send_event validates with it too); these names
# stay importable from here, where intake's callers have always found them.
__all__ = ["MAX_EVENT_BYTES", "MAX_NAME_CHARS", "announce_txn", "dispatch_events_txn", "max_events_per_request", "normalise_events",
           "send_events", "store_events"]


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
    announce_txn(_cancel_matching_runs_txn(fresh, names, now))
    runs = [
        new_run(app_id=f.app_id, function_id=f.function_id, event=e, now=now, triggered_by_run_id=sent_by_run_id)
        for e in fresh for f in functions.get(e["name"], []) if _trigger_holds(f, e)
    ]
    if runs:
        configs = {(f.app_id, f.function_id): f.config or {} for group in functions.values() for f in group}
        superseded = flow.admit_txn(runs, configs, now)
        insert_rows(runs)
        publish_new_runs([*runs, *superseded])
        if any(run.status == RunStatus.QUEUED for run in runs):
            notify.runs_ready()
    _resolve_waits_txn(fresh, names, now)
    return runs


def _trigger_holds(function: Function, event: dict[str, Any]) -> bool:
    """An SDK function's trigger may carry a CEL `expression` over the event: a run starts only when it holds."""
    expression = (function.config or {}).get("trigger_expression")
    return not expression or cel.matches(expression, event=event, incoming={})


def announce_txn(finished: Sequence[Finished]) -> None:
    """Inside a transaction: dispatch the finished events of runs that ended (S8) to the functions listening."""
    for event in finished:
        dispatch_events_txn([event.event], only_functions=set(event.listeners))


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
            cursor.execute(sql.INSERT_NEW_EVENTS.format(table=table, columns=columns, rows=rows), params)
            stored.update(row["id"] for row in sql.named_rows(cursor))
    return stored


def _cancel_matching_runs_txn(events: list[dict[str, Any]], names: set[str], now: datetime) -> list[Finished]:
    """Cancel-on rules: an incoming event cancels active runs of a function whose events agree on `match`.
    Returns the cancelled runs' finished events, for the caller to dispatch."""
    rules = list(CancelRule.objects.filter(event__in=names))
    finished: list[Finished] = []
    if not rules:
        return finished
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
                      and (not rule.match or lookup_path(_event_of(run), rule.match) == expected)
                      and (not rule.expression or cel.matches(rule.expression, event=_event_of(run),
                                                              incoming=event))]
            if doomed:
                _, ended = cancel_runs_txn(doomed, reason=f"cancelled by event {event['name']} ({event['id']})",
                                           now=now)
                finished.extend(ended)
                done.update(run.id for run in doomed)
    return finished


def _event_of(run: Run) -> dict[str, Any]:
    return {"id": run.event_id, "name": run.event_name, "data": run.event_data, "user": run.event_user,
            "ts": run.event_ts}


def _run_event(run_id: str) -> dict[str, Any]:
    return _event_of(Run.objects.only("id", "event_id", "event_name", "event_data", "event_user", "event_ts")
                     .get(id=run_id))


def _resolve_waits_txn(events: list[dict[str, Any]], names: set[str], now: Any) -> None:
    waiting = list(Step.objects.filter(wait_event__in=names, status=StepStatus.WAITING)
                   .filter(run__status__in=[RunStatus.WAITING, RunStatus.RUNNING, RunStatus.QUEUED])
                   .only("id", "run_id", "wait_event", "wait_match", "wait_value", "wait_expression"))
    woken = []
    for step in waiting:
        for event in events:
            if event["name"] != step.wait_event:
                continue
            if step.wait_match and lookup_path(event, step.wait_match) != step.wait_value:
                continue
            if step.wait_expression and not cel.matches(step.wait_expression, event=_run_event(step.run_id),
                                                        incoming=event):
                continue
            updated = Step.objects.filter(id=step.id, status=StepStatus.WAITING).update(
                status=StepStatus.COMPLETED, output=event, ended_at=now, wait_event=None)
            if updated:
                woken.append(step.run_id)
            break
    if woken:
        wake(woken, now)
