"""`ctx.step`: durable steps. Async functions get `AsyncStep`, plain `def` functions get `SyncStep`.

Both look memoised steps up synchronously, through the running pass (`RunningPass`, runs/sdk/protocol.py,
which the engine implements). A step that cannot resolve in this pass
is planned; the async API then awaits a future that never resolves in this pass (so `asyncio.gather` plans
every sibling at once), the sync API unwinds with `Blocked`.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from runs.durations import Duration, deadline
from runs.errors import step_error_from
from runs.events import normalise_events
from runs.exceptions import InvalidEvent, InvalidStepEvent
from runs.limits import MAX_NAME_CHARS, check_length
from runs.ops import EventsSent, InvokePlanned, SleepPlanned, StepCompleted, StepMemo, WaitPlanned
from runs.sdk.app import FunctionDef, FunctionRef
from runs.sdk.protocol import Blocked, RunningPass
from runs.status import StepKind, StepStatus
from runs.values import json_roundtrip, lookup_path

_BLOCK = object()


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class _StepCore:
    """Memo lookups and planning, free of any way of waiting."""

    def __init__(self, state: RunningPass) -> None:
        self._state = state

    def _replayed(self, memo: StepMemo) -> Any:
        if memo.status == StepStatus.COMPLETED:
            return memo.output
        if memo.status == StepStatus.FAILED:
            raise step_error_from(memo.error or {}, memo.step_id)
        self._state.block()
        return _BLOCK

    def _begin_run(self, base_id: str) -> tuple[str, StepMemo | None, Any, bool]:
        """(step id, memo, replayed value, whether to execute the step now)."""
        state = self._state
        step_id = state.step_id(base_id)
        memo = state.recorded(step_id, StepKind.RUN)
        if memo is not None and memo.status != StepStatus.RETRYING:
            return step_id, memo, self._replayed(memo), False
        if memo is not None and memo.deadline is not None and memo.deadline > now():
            # Its next attempt is not due yet (backoff, RetryAfterError), whatever woke the run (S15).
            state.block()
            return step_id, memo, _BLOCK, False
        return step_id, memo, None, True

    def _end_run(self, step_id: str, memo: StepMemo | None, position: int, started: Any,
                 output: Any = None, exc: BaseException | None = None, args: Sequence[Any] = ()) -> Any:
        state = self._state
        attempt = state.step_attempt(memo)
        given = _shown_args(args)
        if exc is None:
            try:
                value = json_roundtrip(output, f"step {step_id!r} output")
            except Exception as serialization_error:
                exc = serialization_error
            else:
                state.record(StepCompleted(step_id=step_id, kind=StepKind.RUN, output=value, attempt=attempt,
                                           position=position, started_at=started, ended_at=now(), input=given))
                return value
        error = state.settle_failure(step_id, StepKind.RUN, exc, attempt, position, started, input=given)
        if error is not None:
            raise error from None
        return _BLOCK

    def _invoke(self, base_id: str, function: FunctionDef | FunctionRef, data: Any, user: Any,
                timeout: Duration | None) -> Any:
        state = self._state
        step_id = state.step_id(base_id)
        if isinstance(function, FunctionDef):
            app_id, function_id = function.app_id, function.function_id
        elif isinstance(function, FunctionRef):
            app_id, function_id = function.app_id or state.invocation.app_id, function.function_id
        else:
            raise TypeError(f"step.invoke({step_id!r}) needs a function or reference_function(...), "
                            f"not {type(function).__name__}")
        check_length(app_id, MAX_NAME_CHARS, f"step.invoke({step_id!r}) app id")
        check_length(function_id, MAX_NAME_CHARS, f"step.invoke({step_id!r}) function id")
        memo = state.recorded(step_id, StepKind.INVOKE, f"{app_id}/{function_id}")
        if memo is not None and memo.status != StepStatus.RETRYING:
            return self._replayed(memo)
        # New, or reopened by an operator's retry (O4): invoke (again), as the step's next attempt (S2).
        payload = json_roundtrip({} if data is None else data, f"step.invoke({step_id!r}) data")
        user_payload = json_roundtrip({} if user is None else user, f"step.invoke({step_id!r}) user")
        planned_at = now()
        state.record(InvokePlanned(step_id=step_id, app_id=app_id, function_id=function_id, data=payload,
                                   user=user_payload, deadline=deadline(timeout, planned_at), planned_at=planned_at,
                                   position=memo.position if memo else state.new_position(),
                                   attempt=state.step_attempt(memo)))
        state.block()
        return _BLOCK

    def _sleep_until(self, base_id: str, until: Duration) -> Any:
        state = self._state
        step_id = state.step_id(base_id)
        memo = state.recorded(step_id, StepKind.SLEEP)
        if memo is not None:
            return self._replayed(memo)
        state.record(SleepPlanned(step_id=step_id, until=deadline(until, now()), position=state.new_position()))
        state.block()
        return _BLOCK

    def _wait_for_event(self, base_id: str, event: str, match: str | None, timeout: Duration) -> Any:
        state = self._state
        step_id = state.step_id(base_id)
        memo = state.recorded(step_id, StepKind.WAIT_FOR_EVENT, event)
        if memo is not None:
            return self._replayed(memo)
        if not event or not isinstance(event, str):
            raise ValueError(f"step.wait_for_event({step_id!r}) needs an event name")
        check_length(event, MAX_NAME_CHARS, f"step.wait_for_event({step_id!r}) event name")
        if match is not None:
            check_length(match, MAX_NAME_CHARS, f"step.wait_for_event({step_id!r}) match")
        value = lookup_path(state.invocation.event, match)
        state.record(WaitPlanned(step_id=step_id, event=event, match=match, value=value,
                                 deadline=deadline(timeout, now()), position=state.new_position()))
        state.block()
        return _BLOCK

    def _send_event(self, base_id: str, events: dict[str, Any] | Sequence[dict[str, Any]]) -> list[str]:
        state = self._state
        step_id = state.step_id(base_id)
        memo = state.recorded(step_id, StepKind.SEND_EVENT)
        if memo is not None:
            return self._replayed(memo)
        batch = [events] if isinstance(events, dict) else list(events)
        for event in batch:
            if isinstance(event, dict):
                event.setdefault("id", uuid.uuid4().hex)
        try:
            normalised = normalise_events(batch)
        except InvalidEvent as exc:
            raise InvalidStepEvent(f"step.send_event({step_id!r}): {exc}") from None
        state.record(EventsSent(step_id=step_id, events=normalised, position=state.new_position(),
                                started_at=now()))
        return [event["id"] for event in normalised]


_MAX_SHOWN_ARG_CHARS = 500


def _shown_args(args: Sequence[Any]) -> Any:
    """step.run's arguments as the step's input, for the run page to show (never read back by replay, so an
    argument that is not JSON is kept as its repr rather than failing the step). None when there are none."""
    if not args:
        return None
    try:
        return json_roundtrip(list(args), "step.run arguments")
    except Exception:  # any non-JSON value: shown as text, the step still runs
        return [repr(arg)[:_MAX_SHOWN_ARG_CHARS] for arg in args]


class AsyncStep(_StepCore):
    """`ctx.step` of an `async def` function."""

    def __init__(self, state: RunningPass, flush: Callable[[], Any]) -> None:
        super().__init__(state)
        self._flush = flush

    async def _wait_forever(self) -> Any:
        # Resolves in a later pass, never this one: the driver sees every task parked here and ends the pass.
        return await asyncio.get_running_loop().create_future()

    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` once as a durable step and return its JSON result; on replay the stored result comes
        back without calling `fn` (S16). A failure is retried per the function's `retries` (S15)."""
        step_id, memo, value, execute = self._begin_run(step_id)
        if not execute:
            return await self._wait_forever() if value is _BLOCK else value
        position = memo.position if memo else self._state.new_position()
        await self._flush()  # earlier steps become durable before this side effect starts
        started = now()
        self._state.executing += 1
        try:
            output = fn(*args)
            if inspect.isawaitable(output):
                output = await output
        except Exception as exc:
            result = self._end_run(step_id, memo, position, started, exc=exc, args=args)
        else:
            result = self._end_run(step_id, memo, position, started, output=output, args=args)
        finally:
            self._state.executing -= 1
            self._state.touch()
        return await self._wait_forever() if result is _BLOCK else result

    async def invoke(self, step_id: str, *, function: FunctionDef | FunctionRef, data: Any = None,
                     user: Any = None, timeout: Duration | None = None) -> Any:
        """Start a run of `function` (a FunctionDef or `reference_function(...)`) with `data` and `user` as its
        event, and return what it returns (S1-S8); its failures raise StepError here (S9-S14)."""
        value = self._invoke(step_id, function, data, user, timeout)
        return await self._wait_forever() if value is _BLOCK else value

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Park the run for `duration` (S5); no thread waits meanwhile."""
        value = self._sleep_until(step_id, duration)
        if value is _BLOCK:
            await self._wait_forever()

    async def sleep_until(self, step_id: str, when: Duration) -> None:
        """Park the run until `when` (a datetime, or a duration from now)."""
        await self.sleep(step_id, when)

    async def wait_for_event(self, step_id: str, *, event: str, match: str | None = None,
                             timeout: Duration) -> dict[str, Any] | None:
        """Wait for an event named `event` (whose `match` path equals this run's event's, when given); returns
        the event, or None when `timeout` passes first."""
        value = self._wait_for_event(step_id, event, match, timeout)
        return await self._wait_forever() if value is _BLOCK else value

    async def send_event(self, step_id: str, events: dict[str, Any] | Sequence[dict[str, Any]]) -> list[str]:
        """Send one event or several, once (durably); returns their ids. Runs they start are roots of their own,
        linked as triggered by this run (O1b)."""
        value = self._send_event(step_id, events)
        return await self._wait_forever() if value is _BLOCK else value


class SyncStep(_StepCore):
    """`ctx.step` of a plain `def` function: the same steps, returning values directly."""

    def _value(self, value: Any) -> Any:
        if value is _BLOCK:
            raise Blocked()
        return value

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Like `AsyncStep.run`, for a plain `def` function."""
        step_id, memo, value, execute = self._begin_run(step_id)
        if not execute:
            return self._value(value)
        position = memo.position if memo else self._state.new_position()
        self._state.flush()
        started = now()
        try:
            output = fn(*args)
            if inspect.isawaitable(output):
                output = asyncio.run(_awaited(output))
        except Exception as exc:
            return self._value(self._end_run(step_id, memo, position, started, exc=exc, args=args))
        return self._value(self._end_run(step_id, memo, position, started, output=output, args=args))

    def invoke(self, step_id: str, *, function: FunctionDef | FunctionRef, data: Any = None, user: Any = None,
               timeout: Duration | None = None) -> Any:
        """Like `AsyncStep.invoke`, for a plain `def` function."""
        return self._value(self._invoke(step_id, function, data, user, timeout))

    def sleep(self, step_id: str, duration: Duration) -> None:
        """Like `AsyncStep.sleep`, for a plain `def` function."""
        self._value(self._sleep_until(step_id, duration))

    def sleep_until(self, step_id: str, when: Duration) -> None:
        """Like `AsyncStep.sleep_until`, for a plain `def` function."""
        self._value(self._sleep_until(step_id, when))

    def wait_for_event(self, step_id: str, *, event: str, match: str | None = None,
                       timeout: Duration) -> dict[str, Any] | None:
        """Like `AsyncStep.wait_for_event`, for a plain `def` function."""
        return self._value(self._wait_for_event(step_id, event, match, timeout))

    def send_event(self, step_id: str, events: dict[str, Any] | Sequence[dict[str, Any]]) -> list[str]:
        """Like `AsyncStep.send_event`, for a plain `def` function."""
        return self._value(self._send_event(step_id, events))

    def parallel(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run step calls side by side: every call that blocks is planned in this pass; results in order."""
        results: list[Any] = []
        blocked = False
        for call in calls:
            try:
                results.append(call())
            except Blocked:
                blocked = True
        if blocked:
            raise Blocked()
        return results


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
