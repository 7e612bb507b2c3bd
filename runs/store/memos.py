"""Steps of runs suspended by this process, kept to resume them without reading their steps again.

A parent that invoked a child and is resumed in this same process when the child ends (runs/store/hops.py) would
reload every step it recorded, to replay them. The process that suspended it knows them already: the steps it
loaded, plus the invoke step it planned, plus the result the child's end wrote into that step. An entry is used
only when nothing else can have touched the run's steps in between: it was suspended here with exactly that one
step waiting, that step was resolved here by the single-statement end of its child, and the run's version and
wake-up count are those this process left (any other resolution of a step counts a wake-up). Otherwise the steps
are read from the database as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from runs.ops import StepMemo

MAX_ENTRIES = 1024  # suspended runs remembered per process; the oldest are forgotten


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int  # the run's version as suspended
    wakeups: int  # its wake-up count then
    waiting_step: str  # the one step it waits on
    steps: dict[str, StepMemo]
    resolved: bool = False  # the waiting step took its child's result, here


_entries: OrderedDict[str, _Entry] = OrderedDict()
_lock = threading.Lock()


def suspended(run_id: str, *, version: int, wakeups: int, waiting_step: StepMemo,
              steps: dict[str, StepMemo]) -> None:
    """Remember a run suspended by this process waiting on exactly one step."""
    entry = _Entry(version, wakeups, waiting_step.step_id, {**steps, waiting_step.step_id: waiting_step})
    with _lock:
        _entries[run_id] = entry
        _entries.move_to_end(run_id)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def resolved(run_id: str, step_id: str, *, status: str, output: Any, error: dict[str, Any] | None) -> None:
    """The step this run waits on took its child's result (committed by this process)."""
    with _lock:
        entry = _entries.get(run_id)
        if entry is None or entry.waiting_step != step_id:
            _entries.pop(run_id, None)
            return
        memo = entry.steps[step_id]
        entry = replace(entry, resolved=True, steps={**entry.steps, step_id: replace(
            memo, status=status, output=output if error is None else memo.output, error=error)})
        _entries[run_id] = entry


def waits_only_on(run_id: str, step_id: str) -> bool:
    """Whether this process suspended the run waiting on exactly this one step (so the step's resolution will
    most likely resume it here: handovers.py shares the commit only then)."""
    with _lock:
        entry = _entries.get(run_id)
    return entry is not None and entry.waiting_step == step_id and not entry.resolved


def take(run_id: str, *, version: int, wakeups: int, now: datetime) -> dict[str, StepMemo] | None:
    """The steps of a run resumed by this process, if they are known for sure (else None: read them)."""
    with _lock:
        entry = _entries.pop(run_id, None)
    if entry is None or not entry.resolved or entry.wakeups != wakeups or entry.version + 1 != version:
        return None
    if any(m.status == "waiting" and m.deadline is not None and m.deadline <= now for m in entry.steps.values()):
        return None  # a deadline passed: the database settles it (passes.load_memo)
    return entry.steps


def forget(run_id: str) -> None:
    with _lock:
        _entries.pop(run_id, None)


def clear() -> None:
    with _lock:
        _entries.clear()
