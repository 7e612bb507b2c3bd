"""What the run page shows beyond dashboard/queries.py (shared with the JSON API): the step waterfall and the
root cause with its propagation path. A few bounded queries per page, never one per step or per node."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard import sdk_apps
from dashboard.params import RunFilters
from dashboard.queries import RootCause, propagation_up, root_causes_of
from dashboard.waits import WaitOffer, wait_offers
from runs.domain import RunInfo, StepInfo
from runs.durations import ONE_YEAR
from runs.exceptions import InvokeCancelledError, RunNotFound
from runs.models import Function, OperatorAction, Run, Step
from runs.status import ActionOutcome, OperatorActionName, RunStatus, StepKind, StepStatus
from runs.store import audit, reads

PAGE_SIZES = (10, 25, 50, 100, 200, 500)
SINCE_CHOICES = (("", "any time"), ("15m", "15 min"), ("1h", "1 hour"), ("6h", "6 hours"), ("24h", "24 hours"),
                 ("7d", "7 days"))


# --- one run ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepAttempt:
    """One attempt of a step, with its own start, end and outcome (and, for an invoke, the child it waited on)."""

    attempt: int
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    error: dict[str, Any] | None = None
    child_run_id: str | None = None


@dataclass(slots=True)
class WaterfallBar:
    step: StepInfo
    offset_pct: float  # of the run's span, where the bar starts
    width_pct: float  # of the run's span
    wait_share_pct: float  # of the bar, the waiting part (drawn first)
    waiting_ms: float
    executing_ms: float
    child: RunInfo | None = None
    attempts: list[StepAttempt] = field(default_factory=list)
    status: str = ""  # as shown: a step ended by a cancel is "cancelled" (stored as failed, see shown_step_status)
    total_ms: float = 0.0  # from the step's start (an invoke: from the invoke) to its end or now
    timeout_ms: float | None = None  # an invoke's timeout (its deadline, from the invoke)


@dataclass(slots=True)
class RunPage:
    run: RunInfo
    parent_step: StepInfo | None
    bars: list[WaterfallBar]
    span_ms: float
    root_cause: RootCause | None
    propagation: list[RunInfo] = field(default_factory=list)
    event_data: Any = None
    triggered: list[RunInfo] = field(default_factory=list)
    rerun_of: RunInfo | None = None  # "rerun from start" links both ways (O4)
    reruns: list[RunInfo] = field(default_factory=list)
    audit: list[OperatorAction] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # the waterfall's colours (legend_keys)
    runtime: str = sdk_apps.RUNTIME_NATIVE  # of the run's function (runs.remote)
    waits: dict[str, WaitOffer] = field(default_factory=dict)  # by step id: what a waiting step offers (item 10)

    @property
    def retried(self) -> bool:
        """Whether an operator's retry gave the run more than one attempt (each shown with its own times)."""
        return len(self.run.attempts_history) > 1

    @property
    def waiting_bars(self) -> list[WaterfallBar]:
        """The bars of the steps an operator can act on while they wait (wake, send event, fail, cancel)."""
        return [bar for bar in self.bars if bar.step.step_id in self.waits]

    @property
    def attempt_count(self) -> int:
        """The attempts fact: the run's attempts as the engine counts them, at least one per operator retry."""
        return max(self.run.attempts, len(self.run.attempts_history))


def run_page(run_id: str) -> RunPage:
    row = Run.objects.filter(id=run_id).first()
    if row is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    step_rows = list(Step.objects.filter(run_id=run_id).order_by("position", "id"))
    run = reads.run_info(row, step_rows)
    children = {c.id: reads.run_info(c, []) for c in Run.objects.filter(parent_run_id=run.id)
                .defer("event_data", "event_user", "output")}
    parent_step = None
    if run.parent_run_id and run.parent_step_id:
        step = Step.objects.filter(run_id=run.parent_run_id, step_id=run.parent_step_id).first()
        parent_step = reads.step_info(step) if step else None
    bars, span = waterfall(run, children)
    cause = None
    path: list[RunInfo] = []
    if run.status == RunStatus.FAILED:
        cause = root_causes_of([row]).get(run.id)
        if cause:
            path = propagation_up(cause.run_id)
    triggered = [reads.run_info(r, []) for r in Run.objects.filter(triggered_by_run_id=run.id)
                 .defer("event_data", "event_user", "output").order_by("created_at")[:50]]
    lean = Run.objects.defer("event_data", "event_user", "output")
    original = lean.filter(id=row.rerun_of_run_id).first() if row.rerun_of_run_id else None
    reruns = [reads.run_info(r, []) for r in lean.filter(rerun_of_run_id=run.id).order_by("created_at")[:20]]
    return RunPage(run=run, parent_step=parent_step, bars=bars, span_ms=span, root_cause=cause,
                   propagation=path, event_data=row.event_data, triggered=triggered,
                   rerun_of=reads.run_info(original, []) if original else None, reruns=reruns,
                   audit=audit.actions_for_run(run.id, limit=20), legend=legend_keys(bars),
                   runtime=sdk_apps.runtimes([(run.app_id, run.function_id)]).get(
                       (run.app_id, run.function_id), sdk_apps.RUNTIME_NATIVE),
                   waits=wait_offers(row.status, step_rows, {"id": row.event_id, "name": row.event_name,
                                                             "data": row.event_data, "user": row.event_user}))


def _ms(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds() * 1000)


_DEFAULT_TIMEOUT_MS = ONE_YEAR.total_seconds() * 1000  # an invoke without `timeout` (runs.durations.deadline)


def waterfall(run: RunInfo, children: dict[str, RunInfo]) -> tuple[list[WaterfallBar], float]:
    """One bar per step on the run's time axis, split into waiting and executing time."""
    now = timezone.now()
    start = run.started_at or run.created_at
    steps = run.steps
    ends = [s.ended_at or now for s in steps] + [run.ended_at or now]
    span = max(1.0, max(_ms(start, end) for end in ends))
    bars = []
    for step in steps:
        child = children.get(step.child_run_id or "")
        attempts = step_attempts(step)
        waiting, executing = split_step_time(step, child, now, attempts)
        total = waiting + executing
        began = attempts[0].started_at if attempts and attempts[0].started_at else step.started_at
        offset = min(99.5, _ms(start, began) * 100.0 / span)
        width = min(100.0 - offset, max(0.5, total * 100.0 / span))  # a visible sliver even for 1 ms
        timeout = None
        if step.kind == StepKind.INVOKE and step.deadline and step.started_at:
            timeout = _ms(step.started_at, step.deadline)
            if abs(timeout - _DEFAULT_TIMEOUT_MS) < 60_000:  # no timeout given: the store's far default
                timeout = None
        bars.append(WaterfallBar(step=step, offset_pct=offset, width_pct=width,
                                 wait_share_pct=waiting * 100.0 / total if total else 0.0,
                                 waiting_ms=waiting, executing_ms=executing, child=child, attempts=attempts,
                                 status=shown_step_status(step), total_ms=_ms(step.started_at, step.ended_at or now),
                                 timeout_ms=timeout))
    return bars, span


def step_attempts(step: StepInfo) -> list[StepAttempt]:
    """The step's attempts, oldest first. A `run` step's history holds every attempt; an invoke step's holds
    the earlier ones (retried from its failure, O4, or healed to wait on its child again, O5) and the step row
    is the current one. A step that never had a second attempt and keeps no history has none to list."""
    found = [StepAttempt(attempt=int(entry.get("attempt") or number), status=str(entry.get("status") or ""),
                         started_at=_parsed(entry.get("started_at")), ended_at=_parsed(entry.get("ended_at")),
                         error=entry.get("error"), child_run_id=entry.get("child_run_id"))
             for number, entry in enumerate(step.history, start=1)]
    if step.kind == StepKind.INVOKE and found:
        found.append(StepAttempt(attempt=step.attempts, status=step.status, started_at=step.started_at,
                                 ended_at=step.ended_at, error=step.error, child_run_id=step.child_run_id))
    return found


def _parsed(text: Any) -> datetime | None:
    return parse_datetime(text) if isinstance(text, str) and text else None


CANCELLED_STEP = RunStatus.CANCELLED.value  # shown with the cancelled run badge

# The waterfall's legend: one key per colour a bar can have (static/css/app.css gives keys and bars the same
# colours by these names). A bar's executing part takes its step's colour; waiting and running steps are blue.
_EXEC_KEYS = {StepStatus.COMPLETED: "completed", StepStatus.FAILED: "failed", StepStatus.RETRYING: "retrying",
              CANCELLED_STEP: "cancelled"}


def legend_keys(bars: list[WaterfallBar]) -> list[tuple[str, str]]:
    """(key class, label) for the colours these bars show, waiting first. A cancelled step's bar is grey as a
    whole (its waiting part too): it says "cancelled", not how the time went."""
    live = [bar for bar in bars if bar.status != CANCELLED_STEP]
    keys = [("wait", "waiting")] if any(bar.waiting_ms for bar in live) else []
    shown = {_EXEC_KEYS.get(bar.status, "exec") for bar in live if bar.executing_ms or not bar.waiting_ms}
    if len(live) < len(bars):
        shown.add(CANCELLED_STEP)
    keys += [("exec", "executing")] if "exec" in shown else []
    keys += [(name, name) for name in _EXEC_KEYS.values() if name in shown]
    return keys


_CANCEL_ERROR_TYPE = InvokeCancelledError.__name__


def shown_step_status(step: StepInfo) -> str:
    """The status a page shows for a step. The store ends a cancelled run's waiting steps, and the invoke step of
    a cancelled child, as failed with an InvokeCancelledError (replay raises it in the function); an operator
    reads that as a cancel, not a failure, so pages show it as cancelled and keep red for failures."""
    if step.status == StepStatus.FAILED and (step.error or {}).get("type") == _CANCEL_ERROR_TYPE:
        return CANCELLED_STEP
    return step.status


def split_step_time(step: StepInfo, child: RunInfo | None, now: datetime,
                    attempts: list[StepAttempt] | None = None) -> tuple[float, float]:
    """(waiting ms, executing ms). An invoke waits for its child to start, then the child executes; sleeps and
    waits for events only wait; a `run` step executes in its attempts and waits between them (backoff). An
    invoke's earlier attempts count as executing and the time between them as waiting (for the operator's
    retry): a healed invoke is not minutes of execution."""
    end = step.ended_at or now
    total = _ms(step.started_at, end)
    if step.kind == StepKind.INVOKE:
        earlier = (attempts if attempts is not None else step_attempts(step))[:-1]
        before = sum(_ms(attempt.started_at, attempt.ended_at) for attempt in earlier)
        since_first = _ms(earlier[0].started_at, end) if earlier and earlier[0].started_at else total
        # The child's start in this attempt: its current attempt's (a healed child began again when retried).
        child_start = child.attempts_history[-1].started_at if child and child.attempts_history else None
        waiting = total if child_start is None else min(total, _ms(step.started_at, child_start))
        executing = before + max(0.0, total - waiting)
        return max(0.0, since_first - executing), executing
    if step.kind in (StepKind.SLEEP, StepKind.WAIT_FOR_EVENT):
        return total, 0.0
    executing = 0.0
    for attempt in step.history:
        began, ended = parse_datetime(attempt.get("started_at") or ""), parse_datetime(attempt.get("ended_at") or "")
        executing += _ms(began, ended)
    if not step.history:
        executing = total
    return max(0.0, total - executing), executing




def filter_options() -> dict[str, list[str]]:
    pairs = list(Function.objects.order_by("app_id", "function_id").values_list("app_id", "function_id"))
    return {"apps": sorted({app for app, _ in pairs}), "functions": sorted({fn for _, fn in pairs})}


# --- operator actions (issue 5) -----------------------------------------------------------------------------
ACTION_LABELS = dict(OperatorActionName.choices)
OUTCOMES = tuple(ActionOutcome.values)
AUDIT_FILTERS = ("user", "action", "outcome", "run")
AUDIT_PAGE = 50


def bulk_config(filters: RunFilters) -> dict[str, Any]:
    """What the runs page's bulk actions send as `filters` (runs.store.reads.filtered_runs understands them).
    `since` is relative on the page; the browser turns it into a moment when the operator asks for a preview."""
    bulk: dict[str, Any] = {}
    for key in ("status", "app", "function"):
        if getattr(filters, key):
            bulk[key] = getattr(filters, key)
    if filters.root_only:
        bulk["root_only"] = True
    blocked = ""
    if filters.q or filters.data or filters.start or filters.end:
        blocked = "Bulk actions follow the filters; clear the search, data and from/to first."
    elif not filters.narrows():  # root_only alone (the page's default) still means every tree
        blocked = "Choose a filter first: bulk actions never apply to every run."
    return {"filters": bulk, "since_seconds": filters.since.total_seconds() if filters.since else None,
            "blocked": blocked}


def audit_entries(form: dict[str, str], *, before: int | None = None) -> tuple[list[OperatorAction], int | None]:
    """A page of the audit trail, newest first (ids grow with time), and the id to continue before."""
    # Filtering by run goes through the indexed join of the audit store (run_ids JSON is for display only).
    entries = audit.actions_naming(form["run"]) if form.get("run") else OperatorAction.objects.order_by("-id")
    entries = entries.select_related("user")
    if before:
        entries = entries.filter(id__lt=before)
    if form.get("user"):
        entries = entries.filter(username=form["user"])
    if form.get("action") in ACTION_LABELS:
        entries = entries.filter(action=form["action"])
    if form.get("outcome") in OUTCOMES:
        entries = entries.filter(outcome=form["outcome"])
    page = list(entries[:AUDIT_PAGE + 1])
    more = len(page) > AUDIT_PAGE
    page = page[:AUDIT_PAGE]
    return page, page[-1].id if more and page else None
