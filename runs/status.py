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


# --- operator actions: what the pages offer, the API accepts and the audit trail records -------------------
class ActionKind(models.TextChoices):
    """What an operator does to runs, one at a time (the run page's menus) or in bulk (the runs page)."""

    CANCEL = "cancel", "Cancel"
    RETRY = "retry", "Retry"


class RetryMode(models.TextChoices):
    FROM_FAILURE = "from_failure", "Retry from failure"  # the same run resumes at its failed step
    FROM_START = "from_start", "Rerun from start"  # a new run with the same event, linked to this one
    ROOT_CAUSE = "root_cause", "Retry root cause"  # the chain's root cause retries, its ancestors heal (O5)
    FROM_STEP = "from_step", "Retry from a step"  # the same run again from a chosen step: earlier ones replay


class OperatorActionName(models.TextChoices):
    """An audit record's `action` (OperatorAction.action)."""

    CANCEL = "cancel", "Cancel"
    CANCEL_CASCADE = "cancel_cascade", "Cancel with descendants"
    RETRY_FROM_FAILURE = f"retry_{RetryMode.FROM_FAILURE}", RetryMode.FROM_FAILURE.label
    RETRY_FROM_START = f"retry_{RetryMode.FROM_START}", RetryMode.FROM_START.label
    RETRY_ROOT_CAUSE = f"retry_{RetryMode.ROOT_CAUSE}", RetryMode.ROOT_CAUSE.label
    RETRY_FROM_STEP = f"retry_{RetryMode.FROM_STEP}", RetryMode.FROM_STEP.label
    PAUSE_FUNCTION = "pause_function", "Pause function"  # its runs queue, none starts (runs/store/pausing.py)
    RESUME_FUNCTION = "resume_function", "Resume function"
    BULK_CANCEL = f"bulk_{ActionKind.CANCEL}", "Bulk cancel"
    BULK_RETRY = f"bulk_{ActionKind.RETRY}", "Bulk retry"
    PRUNE = "prune", "Prune"  # deleting old finished trees (runs/store/prune.py), by hand or hourly
    SYNC_APP = "sync_app", "Sync app"  # an Inngest SDK app asked to register its functions again (Apps page)
    ADD_APP = "add_app", "Add app"  # an Inngest SDK app added by its URL (Apps page)
    REPLAY_EVENT = "replay_event", "Replay event"  # an event sent again as a new one (Events page)
    # Acting on a waiting run (issue 11 item 10, runs/store/waits.py): its waiting step resolves at once.
    WAKE = "wake", "Wake sleep"  # a sleep ends now
    FAIL_INVOKE = "fail_invoke", "Fail invoke"  # the parent's invoke step fails; the child goes on
    CANCEL_INVOKE = "cancel_invoke", "Cancel invoke"  # the invoked child is cancelled (the parent gets S14)
    SEND_EVENT = "send_event", "Send event"  # an event sent from a run page for the event its step waits for


class ActionOutcome(models.TextChoices):
    DONE = "done", "done"
    RUNNING = "running", "running"  # a bulk action (or a prune) in progress
    REFUSED = "refused", "refused"
    FAILED = "failed", "failed"  # a bulk action stopped by an error
