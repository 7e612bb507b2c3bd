"""What one execution pass of a function reports back to the engine: step operations and an outcome.

This is the seam between the engine and function code: a driver gets the event and the memoised steps, and
answers with these records. The in-process driver produces them today; an HTTP driver could tomorrow.
A neutral module (plain records, no I/O): the SDK builds them, the engine hands them on, the store writes them,
and none of the three has to import another for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class StepMemo:
    """A recorded step as the driver sees it on replay."""

    step_id: str
    kind: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    target: str = ""
    position: int = 0
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCompleted:
    step_id: str
    kind: str
    output: Any
    attempt: int
    position: int
    started_at: datetime
    ended_at: datetime
    input: Any = None
    display_name: str = ""  # the readable name an SDK app gave the step (its step_id is a hash); "" natively
    # Ids of events an SDK app sent from this step (its step.sendEvent posts them itself, then reports the ids):
    # the store attributes those events, and the runs they started, to this run.
    sent_event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed:
    """A step attempt failed: for good (`retry_at` None) or with another attempt due at `retry_at`."""

    step_id: str
    kind: str
    error: dict[str, Any]
    attempt: int
    position: int
    retry_at: datetime | None
    started_at: datetime
    ended_at: datetime
    input: Any = None
    display_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokePlanned:
    """Start a child run of app_id/function_id. An SDK app names its target by Inngest's composite id
    (`<app id>-<function id>`): then `app_id` is "" and `function_id` the composite, resolved by the store."""

    step_id: str
    app_id: str
    function_id: str
    data: Any
    user: Any
    deadline: datetime
    position: int
    attempt: int = 1
    display_name: str = ""
    planned_at: datetime | None = None  # when the driver planned it: the step starts there and its deadline counts from it


@dataclass(frozen=True, slots=True, kw_only=True)
class SleepPlanned:
    step_id: str
    until: datetime
    position: int
    display_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitPlanned:
    step_id: str
    event: str
    match: str | None
    value: Any
    deadline: datetime
    position: int
    display_name: str = ""
    expression: str | None = None  # an SDK's `if` (CEL over `event` and `async`), instead of match/value


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsSent:
    step_id: str
    events: list[dict[str, Any]]
    position: int
    started_at: datetime


StepOp = StepCompleted | StepFailed | InvokePlanned | SleepPlanned | WaitPlanned | EventsSent


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    output: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed:
    """The body raised. `retry_at` set: retry the body then; else the run failed for good."""

    error: dict[str, Any]
    retry_at: datetime | None = None
    cause_run_id: str | None = None
    failed_step_id: str | None = None  # the step whose failure failed the run; None: the body itself failed


@dataclass(frozen=True, slots=True, kw_only=True)
class Suspended:
    """Nothing more can happen until a planned step resolves, a timer passes or a retry is due."""


Outcome = RunFinished | RunFailed | Suspended


@dataclass(slots=True, kw_only=True)
class PassResult:
    ops: list[StepOp] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Suspended)
