"""Every status set, defined once: models, engine, templates and JS read them from here."""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # created, waiting for a worker (or a flow-control slot)
    RUNNING = "running", "Running"  # a worker is executing it, or will resume it at once
    WAITING = "waiting", "Waiting"  # suspended on an invoke, a sleep or an event; holds no slot
    COMPLETED = "completed", "Completed"  # returned a value (its output)
    FAILED = "failed", "Failed"  # its own code, or a child it invoked, failed for good (its error)
    CANCELLED = "cancelled", "Cancelled"  # stopped by an operator or a cancel-on event
    SKIPPED = "skipped", "Skipped"  # never started: rate limited or superseded by debounce


TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED})
ACTIVE_RUN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING})


class StepStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"  # an invoke, sleep or wait for an event that has not resolved yet
    RETRYING = "retrying", "Retrying"  # failed, another attempt is scheduled
    COMPLETED = "completed", "Completed"  # its output is memoised and replayed
    FAILED = "failed", "Failed"  # failed for good; replay raises its error in the function


class StepKind(models.TextChoices):
    RUN = "run", "Run"
    INVOKE = "invoke", "Invoke"
    SLEEP = "sleep", "Sleep"
    WAIT_FOR_EVENT = "wait_for_event", "Wait for event"
    SEND_EVENT = "send_event", "Send event"
