"""Reading runs back as plain records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from runs.domain import RunInfo, StepInfo, run_attempts
from runs.exceptions import ActionRefused, InvalidFilter, RunNotFound
from runs.models import Run, Step


def get_run(run_id: str) -> RunInfo:
    run = Run.objects.filter(id=run_id).first()
    if run is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    steps = Step.objects.filter(run_id=run_id).order_by("position", "id")
    return run_info(run, list(steps))


def runs_for_event(event_id: str) -> list[RunInfo]:
    return [run_info(run, []) for run in Run.objects.filter(event_id=event_id).order_by("created_at", "id")]


def list_runs(*, app_id: str | None = None, function_id: str | None = None, status: str | None = None,
              parent_run_id: str | None = None, root_run_id: str | None = None, limit: int = 100) -> list[RunInfo]:
    filters: dict[str, Any] = {}
    for field, value in (("app_id", app_id), ("function_id", function_id), ("status", status),
                         ("parent_run_id", parent_run_id), ("root_run_id", root_run_id)):
        if value is not None:
            filters[field] = value
    runs = Run.objects.filter(**filters).order_by("-created_at", "-id")[: max(0, limit)]
    return [run_info(run, []) for run in runs]


def run_info(run: Run, steps: list[Step]) -> RunInfo:
    return RunInfo(
        id=run.id, app_id=run.app_id, function_id=run.function_id, status=run.status, output=run.output,
        error=run.error, attempts=run.attempts, event_id=run.event_id, event_name=run.event_name,
        parent_run_id=run.parent_run_id, parent_step_id=run.parent_step_id, root_run_id=run.root_run_id,
        failure_cause_run_id=run.failure_cause_run_id, triggered_by_run_id=run.triggered_by_run_id,
        status_reason=run.status_reason or None, depth=run.depth, steps=[step_info(s) for s in steps],
        created_at=run.created_at, started_at=run.started_at, ended_at=run.ended_at, version=run.version,
        failed_step_id=run.failed_step_id,
        attempts_history=run_attempts(run.attempts_history or (), status=run.status, started_at=run.started_at,
                                      ended_at=run.ended_at, error=run.error),
        rerun_of_run_id=run.rerun_of_run_id,
    )


def step_info(step: Step) -> StepInfo:
    return StepInfo(step_id=step.step_id, kind=step.kind, status=step.status, output=step.output, error=step.error,
                    attempts=step.attempts, child_run_id=step.child_run_id, started_at=step.started_at,
                    ended_at=step.ended_at, position=step.position, target=step.target, deadline=step.deadline,
                    history=tuple(step.history or ()), display_name=step.display_name, input=step.input)


def filtered_runs(filters: dict[str, Any]) -> QuerySet[Run]:
    """Runs matching the runs page's filters: function, app, status, since/until (datetimes or ISO text),
    root_run_id (a whole tree), root_only. A malformed value raises InvalidFilter (a 400 over HTTP)."""
    known = {"function", "function_id", "app", "app_id", "status", "since", "until", "root_run_id", "root_only"}
    unknown = set(filters) - known
    if unknown:
        raise ActionRefused(f"unknown filters: {', '.join(sorted(unknown))}")  # 409, as the API contract has it
    runs = Run.objects.all()
    for key, field in (("function", "function_id"), ("function_id", "function_id"), ("app", "app_id"),
                       ("app_id", "app_id"), ("status", "status"), ("root_run_id", "root_run_id")):
        value = filters.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidFilter(f"{key} must be text, not {type(value).__name__}")
        if value:
            _check_filter_text(key, value)
            runs = runs.filter(**{field: value})
    for key, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
        value = filters.get(key)
        if value is not None and value != "":
            runs = runs.filter(**{lookup: _moment(key, value)})
    if filters.get("root_only"):
        runs = runs.filter(parent_run_id__isnull=True)
    return runs


def _moment(key: str, value: object) -> datetime:
    """A since/until filter as an aware datetime: ISO text (JSON callers) or a datetime (Python callers).
    A naive one is read as UTC, the zone the store keeps."""
    if isinstance(value, datetime):
        moment: datetime | None = value
    elif isinstance(value, str):
        try:  # parse_datetime returns None for text that is not a date-time, raises for impossible dates
            moment = parse_datetime(value.strip())
        except ValueError as exc:
            raise InvalidFilter(f"{key} is not a valid date-time: {value[:64]!r} ({exc})") from exc
    else:
        raise InvalidFilter(f"{key} must be an ISO 8601 date-time string, not {type(value).__name__}")
    if moment is None:
        raise InvalidFilter(f"{key} must be an ISO 8601 date-time, not {str(value)[:64]!r}")
    moment = timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment
    try:
        # In UTC: PostgreSQL takes no offset beyond 15:59, and year 1 at +01:00 has no UTC moment.
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidFilter(f"{key} is out of range: {str(value)[:64]!r}") from None


MAX_FILTER_TEXT = 200  # the longest column a text filter compares with


def _check_filter_text(key: str, value: str) -> None:
    """Text the database can compare: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if len(value) > MAX_FILTER_TEXT:
        raise InvalidFilter(f"{key} is longer than {MAX_FILTER_TEXT} characters")
    if "\x00" in value:
        raise InvalidFilter(f"{key} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFilter(f"{key} is not valid text (a lone surrogate)") from None
