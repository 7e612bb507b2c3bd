"""The in-process Python driver: replays a function against its memoised steps and reports what happened.

Async functions run on a private event loop in the worker thread. The driver runs the loop until the
function returns or every task is parked on a step that cannot resolve in this pass; then it collects all
steps planned in that pass (so `asyncio.gather` of three invokes plans three children at once). Plain `def`
functions run directly in the worker thread and unwind with `Blocked` at the first step that cannot resolve.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from runs.engine.passes import Aborted, Blocked, Invocation, PassState, retry_time
from runs.errors import ErrorRecord
from runs.exceptions import InvokeCancelledError, NonRetriableError, StepError
from runs.ops import (
    InvokePlanned,
    PassResult,
    RunFailed,
    RunFinished,
    SleepPlanned,
    StepOp,
    Suspended,
    WaitPlanned,
)
from runs.sdk.app import FunctionDef
from runs.sdk.context import make_context
from runs.sdk.steps import AsyncStep, SyncStep
from runs.values import json_roundtrip

Checkpoint = Callable[[list[StepOp]], None]

# Rounds of the event loop with no step activity after which parked tasks are taken to be stuck for good.
_QUIET_ROUNDS = 4


def execute(function: FunctionDef, invocation: Invocation, checkpoint: Checkpoint) -> PassResult:
    """Run one pass of `function`. `checkpoint` commits ops before a new side effect starts."""
    state = PassState(invocation, function.retries, checkpoint)
    if function.is_async:
        finished, value, error = _run_async(function, state)
    else:
        finished, value, error = _run_sync(function, state)
    ops = state.take_pending()
    if state.fatal is not None:
        return PassResult(ops=_unplanned(ops), outcome=RunFailed(error=ErrorRecord.from_exception(state.fatal).to_json()))
    if error is not None:
        outcome = _failure(error, state)
        return PassResult(ops=ops if outcome.retry_at else _unplanned(ops), outcome=outcome)
    if not finished:
        return PassResult(ops=ops, outcome=Suspended())
    try:
        output = json_roundtrip(value, f"function {function.function_id!r} return value")
    except NonRetriableError as exc:
        return PassResult(ops=ops, outcome=RunFailed(error=ErrorRecord.from_exception(exc).to_json()))
    return PassResult(ops=ops, outcome=RunFinished(output=output))


def _unplanned(ops: list[StepOp]) -> list[StepOp]:
    """A run that failed for good starts nothing new: invokes, sleeps and waits planned in its last pass are
    dropped (they would start children nobody waits for, or leave a finished run with waiting steps)."""
    return [op for op in ops if not isinstance(op, InvokePlanned | SleepPlanned | WaitPlanned)]


def _failure(exc: BaseException, state: PassState) -> RunFailed:
    """How an exception out of the function body ends the pass (S10, S15, O2)."""
    error = ErrorRecord.from_exception(exc).to_json()
    if isinstance(exc, StepError):
        # Only a child that failed or was cancelled makes this run a link in someone else's failure (O2);
        # a timeout, a missing function or the depth limit is this run's own failure.
        caused_by_child = type(exc) in (StepError, InvokeCancelledError) and exc.run_id
        # The step that failed for good is known here, from the error it raised: the store keeps it on the
        # run, so a retry from the failure (O4) reopens that step without guessing.
        return RunFailed(error=error, cause_run_id=exc.run_id if caused_by_child else None,
                         failed_step_id=exc.step_id)
    if isinstance(exc, NonRetriableError):
        return RunFailed(error=error)
    attempt = state.invocation.body_failures + 1
    if attempt > state.retries:
        return RunFailed(error=error)
    return RunFailed(error=error, retry_at=retry_time(exc, attempt, state.invocation.retry_base_seconds))


def _run_sync(function: FunctionDef, state: PassState) -> tuple[bool, Any, BaseException | None]:
    context = make_context(state, SyncStep(state))
    try:
        return True, function.handler(context), None
    except Blocked:
        return False, None, None
    except Aborted as aborted:
        raise aborted.cause from None
    except Exception as exc:
        return False, None, exc


_thread = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker thread, reused by every pass (a new loop costs a socketpair and epoll)."""
    loop = getattr(_thread, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread.loop = asyncio.new_event_loop()
    return loop


def close_thread_loop() -> None:
    """Close this thread's loop; worker threads call it on exit."""
    loop = getattr(_thread, "loop", None)
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    _thread.loop = None


def _run_async(function: FunctionDef, state: PassState) -> tuple[bool, Any, BaseException | None]:
    loop = _thread_loop()
    flush_requests: list[asyncio.Future[None]] = []
    activity = asyncio.Event()
    state.on_activity = activity.set

    async def request_flush() -> None:
        if not state.pending and not state.unsettled:
            return
        future: asyncio.Future[None] = loop.create_future()
        flush_requests.append(future)
        activity.set()
        await future

    context = make_context(state, AsyncStep(state, request_flush))
    main = loop.create_task(function.handler(context))

    async def until_pause() -> str:
        quiet_rounds, last_progress = 0, -1
        while True:
            if main.done():
                return "done"
            if flush_requests:
                return "flush"
            if state.progress != last_progress:
                quiet_rounds, last_progress = 0, state.progress
            else:
                quiet_rounds += 1
            if quiet_rounds < _QUIET_ROUNDS:
                await asyncio.sleep(0)  # let sibling tasks (asyncio.gather) reach their own steps
                continue
            if state.blocked and not state.executing:
                return "stuck"
            # Something is awaiting real I/O: sleep until the function finishes or a step moves.
            activity.clear()
            waiter = loop.create_task(activity.wait())
            await asyncio.wait({main, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    try:
        while True:
            pause = loop.run_until_complete(until_pause())
            if pause != "flush":
                break
            # The loop is stopped here, so the store may use the database from this thread.
            try:
                state.flush()
            except Aborted as aborted:
                raise aborted.cause from None
            for future in flush_requests:
                future.set_result(None)
            flush_requests.clear()
        if main.done():
            exc = main.exception()
            if exc is not None and not isinstance(exc, Exception):
                raise exc
            return (exc is None), (main.result() if exc is None else None), exc
        return False, None, None
    finally:
        state.on_activity = None
        _cancel_leftovers(loop)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """End the tasks still parked on steps, so the next pass starts from a clean loop."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
