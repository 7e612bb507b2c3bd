"""Plain records the store returns: built from rows, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runs.status import TERMINAL_RUN_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInfo:
    step_id: str
    kind: str
    status: str
    output: Any
    error: dict[str, Any] | None
    attempts: int
    child_run_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    position: int = 0
    target: str = ""
    deadline: datetime | None = None
    history: tuple[dict[str, Any], ...] = ()
    display_name: str = ""  # SDK steps: the readable name (their step_id is its SHA-1 hash); "" for native steps


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    id: str
    app_id: str
    function_id: str
    status: str
    output: Any
    error: dict[str, Any] | None
    attempts: int
    event_id: str
    event_name: str
    parent_run_id: str | None
    parent_step_id: str | None
    root_run_id: str
    failure_cause_run_id: str | None
    triggered_by_run_id: str | None
    status_reason: str
    depth: int
    steps: list[StepInfo]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    version: int = 1
    failed_step_id: str | None = None  # the step whose failure failed the run (None: its body failed)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedRun:
    """A run a worker holds the lease on, with what it needs to execute one pass."""

    id: str
    app_id: str
    function_id: str
    event: dict[str, Any]
    body_failures: int
    depth: int
    root_run_id: str
    attempts: int
    wakeups: int
    lease_owner: str
    has_steps: bool
    version: int = 1
    parent_run_id: str | None = None
    parent_step_id: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int = 0

    @property
    def event_name(self) -> str:
        return self.event["name"]
