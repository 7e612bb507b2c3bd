"""Tables of the engine. Only `runs.store` writes to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from runs.limits import MAX_KEY_CHARS, MAX_NAME_CHARS, MAX_STEP_ID_CHARS
from runs.status import RunStatus, StepKind, StepStatus


class Function(models.Model):
    """A registered function, synced from code when a worker starts."""

    app_id = models.CharField(max_length=MAX_NAME_CHARS)
    function_id = models.CharField(max_length=MAX_NAME_CHARS)
    trigger = models.CharField(max_length=MAX_NAME_CHARS, blank=True)
    config = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)
    # An operator paused it (runs/store/pausing.py): its runs are created but none is claimed until resumed.
    # Syncing from code leaves it alone.
    paused = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app_id", "function_id"], name="function_unique_id")]
        indexes = [models.Index(fields=["trigger"]),
                   # Each claim reads the paused functions: an index of (usually) nothing.
                   models.Index(fields=["app_id", "function_id"], name="function_paused", condition=Q(paused=True))]

    def __str__(self) -> str:
        return f"{self.app_id}/{self.function_id}"


class Event(models.Model):
    """An event received at intake (or sent by a step); each starts a run of every function it triggers."""

    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=MAX_NAME_CHARS)
    data = models.JSONField(default=dict)
    user = models.JSONField(default=dict)
    ts = models.BigIntegerField(help_text="milliseconds since the epoch")
    received_at = models.DateTimeField(auto_now_add=True)
    sent_by_run_id = models.CharField(max_length=32, blank=True, default="")
    # An operator's replay (Events page) is a new event with the old one's name and data; this names the old one.
    # A database default too: intake inserts events with its own INSERT ... ON CONFLICT, which leaves it out.
    replay_of = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        indexes = [models.Index(fields=["-received_at"]), models.Index(fields=["name"]),
                   # Retention (runs/store/prune.py) finds the events a pruned run sent.
                   models.Index(fields=["sent_by_run_id"], name="event_sent_by", condition=~Q(sent_by_run_id="")),
                   # The Events page: one name over a time range, newest first, without sorting all of its events.
                   models.Index(fields=["name", "-received_at"], name="event_name_received"),
                   # An event's replays (its row says "replayed as ...").
                   models.Index(fields=["replay_of"], name="event_replay_of", condition=~Q(replay_of=""))]


class Run(models.Model):
    """One execution of a function for one event; invoke edges are `parent_run_id`/`parent_step_id`."""

    id = models.CharField(primary_key=True, max_length=32)
    app_id = models.CharField(max_length=MAX_NAME_CHARS)
    function_id = models.CharField(max_length=MAX_NAME_CHARS)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    status_reason = models.TextField(blank=True, default="")
    # The triggering event, copied so that executing a run needs no join.
    event_id = models.CharField(max_length=64)
    event_name = models.CharField(max_length=MAX_NAME_CHARS)
    event_data = models.JSONField(default=dict)
    event_user = models.JSONField(default=dict)
    event_ts = models.BigIntegerField()
    output = models.JSONField(null=True)
    error = models.JSONField(null=True)
    attempts = models.IntegerField(default=1)
    body_failures = models.IntegerField(default=0)
    # Invocation graph: every run of one tree shares root_run_id, so a subtree is one indexed query.
    parent_run_id = models.CharField(max_length=32, null=True)
    parent_step_id = models.CharField(max_length=MAX_STEP_ID_CHARS, null=True)
    parent_step_attempt = models.IntegerField(default=0)  # an operator's retry of the invoke step starts a new one
    root_run_id = models.CharField(max_length=32)
    depth = models.IntegerField(default=0)
    triggered_by_run_id = models.CharField(max_length=32, null=True)
    failure_cause_run_id = models.CharField(max_length=32, null=True)
    # The step whose failure failed the run (null: the body itself failed, or the run did not fail); a retry from
    # the failure reopens this step (O4). Set where the run fails, from the error the step raised.
    failed_step_id = models.CharField(max_length=MAX_STEP_ID_CHARS, null=True)
    # Scheduling: a run is claimable when ready_at <= now. A claim pushes ready_at to the lease expiry, so a
    # crashed worker's run becomes claimable again by itself; wakeups counts wake-ups that came mid-execution.
    ready_at = models.DateTimeField(null=True)
    lease_owner = models.CharField(max_length=64, null=True)
    # Flow control (runs/store/flow.py). A run over its concurrency limit is `throttled`: not due until a
    # run of the same key releases its slot. Keys are "<app>/<function>:<JSON of the key value>".
    concurrency_key = models.CharField(max_length=MAX_KEY_CHARS, null=True)
    concurrency_limit = models.IntegerField(default=0)
    throttled = models.BooleanField(default=False)
    rate_key = models.CharField(max_length=MAX_KEY_CHARS, null=True)
    debounce_key = models.CharField(max_length=MAX_KEY_CHARS, null=True)
    debounce_started_at = models.DateTimeField(null=True)
    superseded_by_run_id = models.CharField(max_length=32, null=True)
    rerun_of_run_id = models.CharField(max_length=32, null=True)  # "rerun from start" links back (O4)
    # The run's attempts once an operator retried it (O4, O5): each with its own start, end, outcome and the reason
    # it began, the last one open (its end and outcome are the row's). Empty: one attempt, the row's own times.
    # Written only by runs/store/attempts.py; read through runs.domain.run_attempts. Nullable: processes of the
    # version before it, which know no such column, go on inserting runs while a rolling upgrade migrates.
    attempts_history = models.JSONField(default=list, null=True)
    wakeups = models.IntegerField(default=0)
    # Parked: a claim found its function paused and set it aside (ready_at NULL, out of the claim index);
    # resuming the function makes it due again (runs/store/pausing.py).
    paused = models.BooleanField(default=False, db_default=False)
    version = models.IntegerField(default=1)
    # The incident (runs/incidents.py) a root run joined when it last ended failed; kept when a retry heals it
    # (its status then says it is no longer failed). Set only by runs/store/incidents.py.
    incident_id = models.CharField(max_length=32, null=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["ready_at"], name="run_ready", condition=Q(ready_at__isnull=False)),
            models.Index(fields=["root_run_id"], name="run_root"),
            # parent_run_id = ... is served by the run_one_child_per_invoke_attempt constraint's index, and on
            # PostgreSQL event_id = ... by run_event_id_prefix (migration 0017): fewer indexes for every write.
            models.Index(fields=["-created_at"], name="run_created"),
            models.Index(fields=["function_id", "status"], name="run_function_status"),
            models.Index(fields=["concurrency_key", "created_at"], name="run_concurrency",
                         condition=Q(concurrency_key__isnull=False)),
            models.Index(fields=["rate_key", "created_at"], name="run_rate", condition=Q(rate_key__isnull=False)),
            models.Index(fields=["rerun_of_run_id"], name="run_rerun_of", condition=Q(rerun_of_run_id__isnull=False)),
            models.Index(fields=["triggered_by_run_id"], name="run_triggered_by",
                         condition=Q(triggered_by_run_id__isnull=False)),
            models.Index(fields=["debounce_key", "status"], name="run_debounce",
                         condition=Q(debounce_key__isnull=False)),
            # Retention (runs/store/prune.py): finished roots oldest first, and who links to a pruned run.
            models.Index(fields=["ended_at", "id"], name="run_root_ended", condition=Q(parent_run_id__isnull=True)),
            models.Index(fields=["superseded_by_run_id"], name="run_superseded_by",
                         condition=Q(superseded_by_run_id__isnull=False)),
            # An incident's roots by status: its open (still failed) count, its run ids, what "cancel all" stops.
            models.Index(fields=["incident_id", "status"], name="run_incident",
                         condition=Q(incident_id__isnull=False)),
            models.Index(fields=["app_id", "function_id"], name="run_parked", condition=Q(paused=True)),
            # Metrics (runs/store/metrics.py): the runs that started or ended in the minutes being rolled up.
            models.Index(fields=["started_at"], name="run_started", condition=Q(started_at__isnull=False)),
            models.Index(fields=["ended_at"], name="run_ended", condition=Q(ended_at__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["parent_run_id", "parent_step_id", "parent_step_attempt"],
                condition=Q(parent_run_id__isnull=False),
                name="run_one_child_per_invoke_attempt",
            ),
        ]
        permissions = [("operate_run", "Can cancel and retry runs and send events")]


class Step(models.Model):
    """A durable step of a run: its memoised result, or what it waits for."""

    # No index of its own: step_unique_id's (run_id, step_id) serves run_id = ... (one index less per step written).
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    step_id = models.CharField(max_length=MAX_STEP_ID_CHARS)
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    output = models.JSONField(null=True)
    error = models.JSONField(null=True)
    attempts = models.IntegerField(default=0)
    position = models.IntegerField(default=0)
    # Invoke: the child run; sleep/invoke/wait: when the wait ends; wait_for_event: what it waits for.
    child_run_id = models.CharField(max_length=32, null=True)
    target = models.CharField(max_length=400, blank=True, default="")
    deadline = models.DateTimeField(null=True)
    wait_event = models.CharField(max_length=MAX_NAME_CHARS, null=True)
    wait_match = models.CharField(max_length=MAX_NAME_CHARS, null=True)
    wait_value = models.JSONField(null=True)
    # wait_for_event of an SDK run: its `if`, a CEL expression over `event` (the run's) and `async` (the candidate).
    wait_expression = models.TextField(null=True)
    # The readable name an SDK gave the step (its step_id is the SHA-1 the SDK memoises under); "" for native steps.
    display_name = models.CharField(max_length=MAX_STEP_ID_CHARS, blank=True, default="")
    input = models.JSONField(null=True)
    history = models.JSONField(default=list)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "step_id"], name="step_unique_id")]
        indexes = [
            models.Index(fields=["wait_event"], name="step_wait_event", condition=Q(wait_event__isnull=False)),
        ]


class CancelRule(models.Model):
    """A function's cancel-on rule, synced from code: an incoming `event` cancels its matching active runs."""

    app_id = models.CharField(max_length=MAX_NAME_CHARS)
    function_id = models.CharField(max_length=MAX_NAME_CHARS)
    event = models.CharField(max_length=MAX_NAME_CHARS)
    match = models.CharField(max_length=MAX_NAME_CHARS, null=True)
    # An SDK function's `cancel.if`: a CEL expression over `event` (the run's) and `async` (the incoming one).
    expression = models.TextField(null=True)
    timeout_ms = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["event"])]


class SdkApp(models.Model):
    """An app served by an official Inngest SDK over HTTP, as it last synced (its functions are Function rows
    whose config has `runtime` and `url`)."""

    app_id = models.CharField(max_length=MAX_NAME_CHARS, unique=True)
    url = models.TextField()  # the serve URL the SDK reported (Call Requests go to its functions' step URLs)
    runtime = models.CharField(max_length=16, default="")  # "inngest-py" or "inngest-js" (runs.remote)
    sdk = models.CharField(max_length=64, blank=True, default="")  # as the SDK reports it: "py:v0.5.19"
    framework = models.CharField(max_length=64, blank=True, default="")
    last_sync_at = models.DateTimeField(null=True)
    last_sync_ok = models.BooleanField(default=False)
    last_sync_kind = models.CharField(max_length=16, blank=True, default="")  # out_of_band, in_band
    last_sync_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.app_id} ({self.url})"


class OperatorAction(models.Model):
    """The audit trail (O6): who did what, when, to which runs, and how it went."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=40)  # cancel, cancel_cascade, retry_from_failure, ..., bulk_cancel
    run_ids = models.JSONField(default=list)
    filters = models.JSONField(null=True)
    outcome = models.CharField(max_length=20, default="done")  # done, refused, running (bulk in progress)
    detail = models.TextField(blank=True, default="")
    total = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="action_created")]


class OperatorActionRun(models.Model):
    """One run an operator action named: the indexed lookup behind a run's audit list (run_ids stays for
    display; JSON containment is not portable across PostgreSQL and SQLite)."""

    action = models.ForeignKey(OperatorAction, on_delete=models.CASCADE, related_name="runs_named")
    run_id = models.CharField(max_length=32, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["action", "run_id"], name="action_run_once")]


class ApiToken(models.Model):
    """A bearer token that lets scripts use the JSON API as a user (runs/store/tokens.py). Only the SHA-256 of
    the token is stored: it is shown once, when created. A read token reads; an operate token may also act
    on runs (if its user has the permission). Expired or revoked tokens are refused."""

    class Scope(models.TextChoices):
        READ = "read", "read only"
        OPERATE = "operate", "read and act on runs"

    digest = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the whole token
    prefix = models.CharField(max_length=12, db_index=True)  # its first characters: names it, e.g. to revoke
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: never (only when asked for explicitly)
    revoked_at = models.DateTimeField(null=True, blank=True)


class WorkerProcess(models.Model):
    """A `manage.py worker` process (runs/store/workers.py): registered when it starts, updated at each
    heartbeat, marked stopped on a clean stop. One whose heartbeat is older than two leases died."""

    id = models.CharField(primary_key=True, max_length=64)  # the worker's name, host:pid:random
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    threads = models.IntegerField()
    app_ids = models.JSONField(default=list)
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField()
    runs_done = models.BigIntegerField(default=0)  # passes executed, counted in memory, written at each beat
    in_flight = models.IntegerField(default=0)  # claimed and not yet done, at the last beat
    held_run_ids = models.JSONField(default=list)  # those runs' ids (capped): what a dead worker held
    # The oldest due run of its apps at the last beat: claim lag = last_heartbeat - oldest_due_at.
    oldest_due_at = models.DateTimeField(null=True)
    stopped_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["-last_heartbeat"], name="worker_heartbeat")]


class Incident(models.Model):
    """Failed root runs that share their root cause's signature (runs/incidents.py): written when a root run
    ends failed (runs/store/incidents.py), so the Incidents page reads one indexed table. `count` is every
    failure that joined (history: a retry that heals a run does not take it back); the runs still failed are
    the roots with this `incident_id` and status failed."""

    id = models.CharField(primary_key=True, max_length=32)  # runs.incidents.signature_id
    app_id = models.CharField(max_length=MAX_NAME_CHARS)
    function_id = models.CharField(max_length=MAX_NAME_CHARS)  # the root cause's function
    step_id = models.CharField(max_length=MAX_STEP_ID_CHARS, null=True)  # the step that failed (null: the body)
    error_type = models.CharField(max_length=MAX_NAME_CHARS)
    message = models.TextField()  # normalised
    sample_message = models.TextField(blank=True, default="")  # the latest failure's own message
    sample_run_id = models.CharField(max_length=32, blank=True, default="")  # the latest failure's root cause run
    count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    root_functions = models.JSONField(default=list)  # "app/function" of the failed roots, capped
    buckets = models.JSONField(default=dict)  # failures per hour, for the sparkline

    class Meta:
        indexes = [models.Index(fields=["-last_seen"], name="incident_last_seen")]


# Upper bounds (milliseconds) of the run-duration histogram of the metrics (runs/store/metrics.py): one
# column per bound, plus one for longer runs. Prometheus exposes the same buckets (in seconds).
DURATION_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 120_000,
                      300_000, 900_000, 3_600_000)
DURATION_COLUMNS = tuple(f"le_{bound}ms" for bound in DURATION_BOUNDS_MS) + ("le_inf",)


class MetricsCounts(models.Model):
    """What the metrics count for one function: runs started, ended by outcome, and the durations of the
    completed and failed ones (their sum and a histogram of DURATION_COLUMNS); fields added by _counters."""

    app_id = models.CharField(max_length=MAX_NAME_CHARS)
    function_id = models.CharField(max_length=MAX_NAME_CHARS)
    duration_ms = models.FloatField(default=0)

    class Meta:
        abstract = True


def _counters(model: type[models.Model], field: type[models.IntegerField]) -> None:
    # Twenty-four identical counters, spelled once. A minute's counts are 32-bit (PostgreSQL sums those as
    # bigint, faster than the numeric its sum of bigints is); the totals are 64-bit.
    for name in ("started", "completed", "failed", "cancelled", *DURATION_COLUMNS):
        model.add_to_class(name, field(default=0))


class RunMetricsMinute(MetricsCounts):
    """The metrics of one function in one closed minute (`minute`: minutes since the epoch, UTC), rolled up
    from the runs table by runs/store/metrics.py so that charts over a day or a week read a few thousand rows
    instead of every run; the row with empty app and function ids is all functions together. Kept for
    runs.store.metrics.KEEP_MINUTES."""

    minute = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["minute", "app_id", "function_id"],
                                               name="metrics_minute_once")]
        indexes = [models.Index(fields=["app_id", "function_id", "minute"], name="metrics_function_minute")]


class RunMetricsTotal(MetricsCounts):
    """Everything rolled up so far, per function: the counters Prometheus scrapes (monotonic, unlike the
    minutes, which are dropped after a while)."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app_id", "function_id"], name="metrics_total_once")]


class RunMetricsRollup(models.Model):
    """One row: the minute the roll-up has reached (every minute before it is in RunMetricsMinute). Moved
    with a compare-and-set, so two processes rolling up at once cannot both count a minute."""

    rolled_to = models.BigIntegerField()


_counters(RunMetricsMinute, models.IntegerField)
_counters(RunMetricsTotal, models.BigIntegerField)
