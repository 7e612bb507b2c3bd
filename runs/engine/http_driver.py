"""The HTTP driver: one pass of a function served by an official Inngest SDK app.

Behind the same seam as the Python driver (runs/engine/driver.py): it gets the run's event and memoised steps
and reports step ops and an outcome. A pass POSTs Call Requests to the function's URL until the function
finishes, fails, or can go no further in this pass (it planned an invoke, a sleep or a wait, or a step failed
with attempts left). Each step the SDK reports as run is committed (checkpointed) before the next request, as a
native step is before the next side effect: a crash re-runs at most the step that was in flight.

The SDK's memo keys are the SHA-1 step ids the SDKs compute; the Step rows keep them as step ids and the
readable `displayName` beside them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from runs.durations import ONE_YEAR
from runs.engine import http_calls
from runs.engine.passes import Invocation, backoff, now
from runs.errors import ErrorRecord
from runs.exceptions import LimitExceeded, SerializationError
from runs.inngest import cel, signing
from runs.inngest.protocol import (
    DEFAULT_VERSION,
    MemoEntry,
    Op,
    ProtocolError,
    app_error,
    call_body,
    duration,
    error_from_body,
    parse_json,
    parse_ops,
    retry_after,
    sleep_until,
)
from runs.limits import MAX_ANSWER_BYTES, MAX_NAME_CHARS
from runs.ops import (
    InvokePlanned,
    PassResult,
    RunFailed,
    RunFinished,
    SleepPlanned,
    StepCompleted,
    StepFailed,
    StepMemo,
    StepOp,
    Suspended,
    WaitPlanned,
)
from runs.remote import RemoteFunction
from runs.status import StepKind, StepStatus
from runs.values import MAX_OUTPUT_BYTES, json_roundtrip, storable_text

logger = logging.getLogger("runs.worker")

Checkpoint = Callable[[list[StepOp]], None]

MAX_STEPS_PER_RUN = 1000
# Requests one pass may make: a function that keeps reporting steps without ever blocking is cut off here
# (each answer moves it forward, so this is far more than any real function needs per pass).
MAX_CALLS_PER_PASS = 2 * MAX_STEPS_PER_RUN

def close_thread_client() -> None:
    """Close this worker thread's keep-alive connections to SDK apps (worker threads call it on exit)."""
    http_calls.close_thread_connections()


class _Failed(Exception):
    """Ends the pass with the run's failure (after the ops recorded so far)."""

    def __init__(self, outcome: RunFailed) -> None:
        super().__init__(outcome.error.get("message", ""))
        self.outcome = outcome


# What a worker in neither mode says: it calls no app unsigned without dev mode switched on where it runs
# (`serve --dev` in another process does not switch a separate `manage.py worker`'s on).
MODE_OFF = ("this worker is in neither signed nor dev mode, so it calls no Inngest SDK app: set "
            "RUNS_INNGEST_SIGNING_KEY (the apps' INNGEST_SIGNING_KEY) or, for local development only, "
            "RUNS_INNGEST_DEV=1 (or `manage.py worker --dev`) where the worker runs; the run is retried meanwhile")


def execute(function: RemoteFunction, invocation: Invocation, checkpoint: Checkpoint, *,
            signing_keys: Sequence[str] = (), dev: bool = False, timeout: float = 300.0) -> PassResult:
    """Run one pass of `function` over HTTP. `checkpoint` commits ops before the next request. With signing
    keys the calls are signed (signed mode); without, only in dev mode are they made at all."""
    return _Pass(function, invocation, checkpoint, list(signing_keys), dev, timeout).run()


def _error(name: str, message: str) -> dict[str, Any]:
    """A failure the driver decides on (the app's answer, or what it could not store), as every error is stored."""
    return ErrorRecord(name=name, message=message).to_json()


class _Pass:
    def __init__(self, function: RemoteFunction, invocation: Invocation, checkpoint: Checkpoint,
                 signing_keys: list[str], dev: bool, timeout: float) -> None:
        self.function = function
        self.invocation = invocation
        self.checkpoint = checkpoint
        self.keys = signing_keys
        self.dev = dev
        self.timeout = timeout
        self.recorded: dict[str, StepMemo] = dict(invocation.memo)
        self.settled: dict[str, MemoEntry] = {}
        for memo in invocation.memo.values():
            entry = _settled_entry(memo)
            if entry is not None:
                self.settled[memo.step_id] = entry
        self.pending: list[StepOp] = []
        self.next_position = max((m.position for m in invocation.memo.values()), default=-1) + 1
        self.calls = 0
        # After an answer with more than one op the SDK must not run new steps inline any more (section 7).
        self.disable_immediate = False
        self.version = DEFAULT_VERSION

    # --- the pass -----------------------------------------------------------------------------------------

    def run(self) -> PassResult:
        try:
            if not self.keys and not self.dev:
                logger.warning("run %s (%s/%s): %s", self.invocation.run_id, self.invocation.app_id,
                               self.invocation.function_id, MODE_OFF)
                raise self._body_failure(_error("InngestModeOff", MODE_OFF), None)
            # Steps whose retry is due run first, each targeted by its id, as Inngest does. (A reopened invoke
            # step is not one: the SDK reports it again when it reaches it, and it invokes anew.)
            retrying = sorted((m for m in self.recorded.values()
                               if m.status == StepStatus.RETRYING and m.kind != StepKind.INVOKE),
                              key=lambda m: m.position)
            blocked = False
            for memo in retrying:
                if memo.deadline is not None and memo.deadline > now():
                    blocked = True  # another step's retry made the run due; this one's is later
                    continue
                blocked |= self._handle(self._call(memo.step_id, memo.attempts), targeted=True)
            if blocked:
                return self._suspended()
            while True:
                answer = self._call("step", self.invocation.body_failures)
                if answer.status == 200:
                    return self._finished(answer)
                if self._handle(answer, targeted=False):
                    return self._suspended()
        except _Complete as complete:
            return PassResult(ops=self.pending, outcome=RunFinished(output=complete.data))
        except _Failed as failed:
            keep = failed.outcome.retry_at is not None
            ops = self.pending if keep else [op for op in self.pending if not _starts_something(op)]
            return PassResult(ops=ops, outcome=failed.outcome)

    def _suspended(self) -> PassResult:
        return PassResult(ops=self.pending, outcome=Suspended())

    def _finished(self, answer: http_calls.Response) -> PassResult:
        try:
            output = parse_json(answer.body, "the function's return value")
        except ProtocolError as exc:
            raise _Failed(RunFailed(error=_error("ProtocolError", str(exc)))) from None
        problem = _too_big(output, "the function's return value")
        if problem:
            raise _Failed(RunFailed(error=_error("LimitExceeded", problem)))
        return PassResult(ops=self.pending, outcome=RunFinished(output=output))

    # --- one request ----------------------------------------------------------------------------------------

    def _call(self, step_id: str, attempt: int) -> http_calls.Response:
        """POST a Call Request for `step_id` ("step": run from the top). Commits what is pending first."""
        if self.pending:
            self.checkpoint(self.pending)
            self.pending = []
        self.calls += 1
        if self.calls > MAX_CALLS_PER_PASS:
            raise _Failed(RunFailed(error=_error(
                "ProtocolError", f"the app answered {MAX_CALLS_PER_PASS} requests in one pass without the function "
                                 f"finishing or waiting; giving up")))
        url = _step_url(self.function.url, step_id)
        try:
            raw, headers = self._request(step_id, attempt)
        except signing.UnsignableValue as exc:
            # The run's event or memo holds it: every later attempt would build the same body.
            raise self._body_failure(_error("UnsignableValue", f"cannot sign the Call Request to {url}: {exc}"),
                                     None, final=True) from None
        except Exception as exc:
            # Whatever else goes wrong building a request ends this attempt with its reason; escaping the pass
            # it would leave the run to be replayed at every lease expiry, never failing.
            logger.exception("run %s: building the Call Request to %s failed", self.invocation.run_id, url)
            raise self._body_failure(_error("CallRequestError", f"could not build the Call Request to {url}: "
                                                                f"{type(exc).__name__}: {exc}"), None) from None
        try:
            answer = http_calls.post(url, raw, headers, self.timeout, max_bytes=MAX_ANSWER_BYTES)
        except http_calls.CallFailed as exc:
            if isinstance(exc, http_calls.AnswerTooLarge):
                # Retried, not final: an answer too big to read is one whose signature cannot be checked.
                error = _error("AnswerTooLarge", f"the app's answer to {url} was refused: {exc} (the "
                                                 f"{MAX_OUTPUT_BYTES // 2**20} MiB output limit and 1 MiB for "
                                                 f"the protocol)")
            elif exc.timed_out:
                error = _error("AppTimeout", f"the app did not answer {url} in full within {self.timeout:g} s "
                                             f"(RUNS_INNGEST_CALL_TIMEOUT_SECONDS, the deadline of a whole call)")
            else:
                error = _error("AppUnreachable", f"could not reach the app at {url}: {exc}")
            raise self._body_failure(error, None) from None
        if 300 <= answer.status < 400:
            raise self._body_failure(_error("AppRedirected", _redirect_message(answer, url)), None)
        if self.keys:
            # In signed mode the SDKs sign every answer (an error too) to a request they could check: one that
            # is not signed may come from anyone in the path, so nothing in it is acted on.
            try:
                signing.verify(answer.body, answer.header("x-inngest-signature"), self.keys,
                               max_age_seconds=None)
            except signing.SignatureError as exc:
                raise self._untrusted(answer, url, exc) from None
        answered = answer.header("x-inngest-req-version")
        if answered.lstrip("-").isdigit() and int(answered) > 0:
            self.version = int(answered)
        if answer.status not in (200, 206):
            raise self._function_error(answer, url)
        return answer

    def _request(self, step_id: str, attempt: int) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a Call Request (signed in signed mode)."""
        body = call_body(event=self.invocation.event, memo=list(self.settled.values()), run_id=self.invocation.run_id,
                         attempt=attempt, max_attempts=self.function.retries + 1,
                         disable_immediate_execution=self.disable_immediate, step_id=step_id,
                         version=self.version)
        headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": "cloud" if self.keys else "dev",
                   "X-Request-Id": f"{self.invocation.run_id}-{self.calls}"}
        if not self.keys:
            return json.dumps(body, separators=(",", ":"), allow_nan=False).encode(), headers
        raw, signed = signing.request_body(body)
        headers["X-Inngest-Signature"] = signing.sign(signed, self.keys[0])
        return raw, headers

    # --- answers ----------------------------------------------------------------------------------------------

    def _handle(self, answer: http_calls.Response, *, targeted: bool) -> bool:
        """Record a 206's ops. Returns whether the run must wait (something planned, a retry scheduled)."""
        if answer.status == 200:
            if targeted:
                raise _Failed(RunFailed(error=_error(
                    "ProtocolError", "the app finished the function when asked to run one step")))
            return False
        try:
            ops = parse_ops(answer.body)
        except ProtocolError as exc:
            raise _Failed(RunFailed(error=_error("ProtocolError", str(exc)))) from None
        if len(ops) > 1:
            self.disable_immediate = True
        blocked = False
        planned: list[Op] = []
        for op in ops:
            if op.op == "RunComplete":
                raise _Complete(op.data)
            if op.op == "StepPlanned":
                self.disable_immediate = True
                if op.id not in self.settled:
                    planned.append(op)
            elif op.op == "StepRun":
                self._step_run(op)
            elif op.op == "StepError":
                blocked |= self._step_error(op, answer)
            elif op.op == "StepFailed":
                self._step_failed(op)
            else:
                blocked |= self._plan(op)
        for op in planned:
            memo = self.recorded.get(op.id)
            if memo is not None and memo.status == StepStatus.RETRYING and memo.deadline and memo.deadline > now():
                blocked = True  # its next attempt is not due yet
                continue
            blocked |= self._handle(self._call(op.id, memo.attempts if memo else 0), targeted=True)
        return blocked

    def _position(self, step_id: str) -> int:
        memo = self.recorded.get(step_id)
        if memo is not None:
            return memo.position
        if len(self.recorded) + 1 > MAX_STEPS_PER_RUN:
            raise _Failed(RunFailed(error=_error("LimitExceeded", f"a run may have at most {MAX_STEPS_PER_RUN} steps")))
        position = self.next_position
        self.next_position += 1
        return position

    def _attempt(self, step_id: str) -> int:
        memo = self.recorded.get(step_id)
        return (memo.attempts if memo else 0) + 1

    def _remember(self, op: StepOp, memo: StepMemo, entry: MemoEntry | None) -> None:
        self.pending.append(op)
        self.recorded[memo.step_id] = memo
        if entry is not None:
            self.settled[memo.step_id] = entry

    def _step_run(self, op: Op) -> None:
        if op.id in self.settled:
            return  # reported again (a replayed answer): the memo already has it
        kind = StepKind.SEND_EVENT if op.opts.get("type") == "step.sendEvent" else StepKind.RUN
        position, attempt, at = self._position(op.id), self._attempt(op.id), now()
        problem = _too_big(op.data, f"step {op.display_name!r} output")
        if problem:
            self._step_failed(Op(op="StepFailed", id=op.id, display_name=op.display_name,
                                 error=_error("LimitExceeded", problem)))
            return
        completed = StepCompleted(step_id=op.id, kind=kind, output=op.data, attempt=attempt, position=position,
                                  started_at=at, ended_at=at, display_name=op.display_name,
                                  sent_event_ids=_sent_event_ids(kind, op.data))
        self._remember(completed, StepMemo(step_id=op.id, kind=kind, status=StepStatus.COMPLETED, output=op.data,
                                           attempts=attempt, position=position),
                       MemoEntry(step_id=op.id, kind=kind, position=position, output=op.data))

    def _step_error(self, op: Op, answer: http_calls.Response) -> bool:
        attempt = self._attempt(op.id)
        if attempt > self.function.retries:
            self._step_failed(op)
            return False
        at = now()
        retry_at = retry_after(answer.header("retry-after"), at) or at + backoff(
            attempt, self.invocation.retry_base_seconds)
        position = self._position(op.id)
        error = _stored_error(op.error)
        failed = StepFailed(step_id=op.id, kind=StepKind.RUN, error=error, attempt=attempt, position=position,
                            retry_at=retry_at, started_at=at, ended_at=at, display_name=op.display_name)
        self._remember(failed, StepMemo(step_id=op.id, kind=StepKind.RUN, status=StepStatus.RETRYING, error=error,
                                        attempts=attempt, position=position, deadline=retry_at), None)
        return True

    def _step_failed(self, op: Op) -> None:
        if op.id in self.settled:
            return
        attempt, position, at = self._attempt(op.id), self._position(op.id), now()
        error = {**_stored_error(op.error), "step_id": op.id}
        failed = StepFailed(step_id=op.id, kind=StepKind.RUN, error=error, attempt=attempt, position=position,
                            retry_at=None, started_at=at, ended_at=at, display_name=op.display_name)
        self._remember(failed, StepMemo(step_id=op.id, kind=StepKind.RUN, status=StepStatus.FAILED, error=error,
                                        attempts=attempt, position=position),
                       MemoEntry(step_id=op.id, kind=StepKind.RUN, position=position, error=error))

    def _plan(self, op: Op) -> bool:
        """An invoke, sleep or wait: recorded once (an SDK reports it again on every call until it resolves)."""
        memo = self.recorded.get(op.id)
        if op.id in self.settled or (memo is not None and memo.status == StepStatus.WAITING):
            return True
        at = now()
        position = self._position(op.id)
        try:
            planned = self._planned(op, position, at)
        except (LimitExceeded, SerializationError) as exc:  # invoke data the native limits refuse
            raise _Failed(RunFailed(error=_error(type(exc).__name__, f"step {op.display_name!r}: {exc}"))) from None
        except (ProtocolError, cel.ExpressionError, ValueError) as exc:
            raise _Failed(RunFailed(error=_error("ProtocolError", f"step {op.display_name!r}: {exc}"))) from None
        self._remember(planned, StepMemo(step_id=op.id, kind=_kind(planned), status=StepStatus.WAITING,
                                         position=position, attempts=1), None)
        return True

    def _planned(self, op: Op, position: int, at: datetime) -> StepOp:
        if op.op == "InvokeFunction":
            target = op.opts.get("function_id")
            if not isinstance(target, str) or not target:
                raise ProtocolError("InvokeFunction without opts.function_id")
            _check_name(target, "invoke function_id")
            payload: dict[str, Any] = op.opts["payload"] if isinstance(op.opts.get("payload"), dict) else {}
            timeout = op.opts.get("timeout")
            deadline = at + (duration(timeout, "invoke timeout") if timeout else ONE_YEAR)
            data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
            json_roundtrip(data, f"invoke {op.display_name!r} data")
            return InvokePlanned(step_id=op.id, app_id="", function_id=target, data=data, user=payload.get("user") if isinstance(payload.get("user"), dict) else {},
                                 deadline=deadline, position=position, attempt=self._attempt(op.id),
                                 display_name=op.display_name, planned_at=at)
        if op.op == "Sleep":
            return SleepPlanned(step_id=op.id, until=sleep_until(op, at), position=position,
                                display_name=op.display_name)
        if op.op == "WaitForEvent":
            event = op.opts.get("event") or op.name
            if not isinstance(event, str) or not event:
                raise ProtocolError("WaitForEvent without an event name")
            _check_name(event, "waitForEvent event")
            expression = op.opts.get("if") or None
            if expression is not None:
                cel.check(str(expression))
            timeout = op.opts.get("timeout")
            deadline = at + (duration(timeout, "waitForEvent timeout") if timeout else ONE_YEAR)
            return WaitPlanned(step_id=op.id, event=event, match=None, value=None, deadline=deadline,
                               position=position, display_name=op.display_name,
                               expression=str(expression) if expression else None)
        raise ProtocolError(f"opcode {op.op!r} is not supported")

    # --- the function failed ----------------------------------------------------------------------------------

    def _function_error(self, answer: http_calls.Response, url: str) -> _Failed:
        """A trusted error answer: the function's error, retried unless the app says not to or when it says."""
        if answer.status == 401:
            return self._body_failure(_error("SignatureError", _refused_message(answer)), None)
        error = error_from_body(answer.body, answer.status)
        if answer.status == 404 and error["name"] == "Error":
            error["message"] += f" (is {url} the app's serve URL? a sync updates it)"
        no_retry = answer.header("x-inngest-no-retry", "").lower() == "true"
        return self._body_failure({**_error(error["name"], error["message"]), "stack": error.get("stack")},
                                  retry_after(answer.header("retry-after"), now()), final=no_retry)

    def _untrusted(self, answer: http_calls.Response, url: str, problem: signing.SignatureError) -> _Failed:
        """An answer whose signature does not verify, in signed mode: a failed attempt, retried on Tributary's
        backoff; neither its body nor its headers (X-Inngest-No-Retry, Retry-After) are acted on."""
        if answer.status == 401:  # the SDK's own refusal of our signature is never signed
            return self._body_failure(_error("SignatureError", _refused_message(answer)), None)
        if answer.status in (200, 206):
            message = f"the app's answer to {url} was refused: {problem}"
        else:
            message = (f"the app's HTTP {answer.status} answer to {url} is not signed ({problem}), so it is not "
                       f"trusted: retried on Tributary's backoff, its X-Inngest-No-Retry and Retry-After ignored; "
                       f"it began {_excerpt(answer.body)}")
        return self._body_failure(_error("SignatureError", message), None)

    def _body_failure(self, error: dict[str, Any], retry_at: datetime | None, *, final: bool = False) -> _Failed:
        """The body failed: another attempt later, or (non-retriable, out of attempts) the run fails."""
        cause = self._caused_by(error)
        attempt = self.invocation.body_failures + 1
        if final or cause is not None or attempt > self.function.retries:
            # A child that failed makes this run a link in its failure (O2); a step of its own is its own failure.
            cause_run_id = (cause.error or {}).get("run_id") if cause and cause.kind == StepKind.INVOKE else None
            return _Failed(RunFailed(error=error, cause_run_id=cause_run_id,
                                     failed_step_id=cause.step_id if cause else None))
        return _Failed(RunFailed(error=error, retry_at=retry_at or now() + backoff(
            attempt, self.invocation.retry_base_seconds)))

    def _caused_by(self, error: dict[str, Any]) -> StepMemo | None:
        """The step that failed for good and made the function fail: the SDK re-raised its error (same message)."""
        failed = [m for m in self.recorded.values() if m.status == StepStatus.FAILED and m.error]
        same = [m for m in failed if (m.error or {}).get("message") == error.get("message")]
        return max(same, key=lambda m: m.position) if same else None


class _Complete(BaseException):
    """inngest-js 4's RunComplete op (only with checkpointing, which Tributary does not ask for)."""

    def __init__(self, data: Any) -> None:
        super().__init__("complete")
        self.data = data


def _settled_entry(memo: StepMemo) -> MemoEntry | None:
    """A recorded step as the SDK's memo has it, or None while it is still pending (waiting, retrying)."""
    if memo.status == StepStatus.COMPLETED:
        return MemoEntry(step_id=memo.step_id, kind=memo.kind, position=memo.position, output=memo.output)
    if memo.status == StepStatus.FAILED:
        return MemoEntry(step_id=memo.step_id, kind=memo.kind, position=memo.position,
                         error=memo.error or _error("Error", "failed"))
    return None


def _kind(op: StepOp) -> str:
    if isinstance(op, InvokePlanned):
        return StepKind.INVOKE
    if isinstance(op, SleepPlanned):
        return StepKind.SLEEP
    return StepKind.WAIT_FOR_EVENT


_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _sent_event_ids(kind: str, data: Any) -> tuple[str, ...]:
    """The event ids a step reported sending: inngest-js's sendEvent step answers {"ids": [...]}, inngest-py's a
    plain list of ids (told apart from other lists of strings by their ULID form; the store attributes only
    events that exist and nobody sent)."""
    if kind == StepKind.SEND_EVENT and isinstance(data, dict):
        data = data.get("ids")
    if isinstance(data, list) and data and len(data) <= 1000 and all(
            isinstance(item, str) and _ULID.match(item) for item in data):
        return tuple(data)
    return ()


def _starts_something(op: StepOp) -> bool:
    return isinstance(op, InvokePlanned | SleepPlanned | WaitPlanned)


def _stored_error(error: dict[str, Any] | None) -> dict[str, Any]:
    """A step error an app reported in an op, bounded as every error from an app is (protocol.app_error)."""
    bounded = app_error(error)
    return {**_error(bounded["name"], bounded["message"]), "stack": bounded["stack"]}


def _excerpt(body: bytes, limit: int = 200) -> str:
    """The start of an answer, quoted, for an error message (never the whole of an answer not trusted)."""
    text = storable_text(body[:limit].decode(errors="replace"))
    return repr(text) + ("..." if len(body) > limit else "")


def _refused_message(answer: http_calls.Response) -> str:
    return (f"the app refused our Call Request (401: {_excerpt(answer.body)}); check that the app and Tributary "
            f"use the same signing key")


def _redirect_message(answer: http_calls.Response, url: str) -> str:
    location = answer.header("location")
    to = f" to {location[:300]!r}" if location else ""
    return (f"the app answered {url} with HTTP {answer.status}, a redirect{to}; redirects are not followed: "
            f"serve the app at the URL it syncs with (INNGEST_SERVE_ORIGIN / INNGEST_SERVE_PATH), then sync it")


def _step_url(url: str, step_id: str) -> str:
    """The registered call URL with its `stepId` replaced."""
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "stepId"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("stepId", step_id)])))


def _too_big(value: Any, what: str) -> str | None:
    """Why `value` cannot be stored, by the same rules as native outputs (runs.values.json_roundtrip), or None."""
    try:
        json_roundtrip(value, what)
    except (LimitExceeded, SerializationError) as exc:
        return str(exc)
    return None


def _check_name(value: str, what: str) -> None:
    if len(value) > MAX_NAME_CHARS:
        raise ProtocolError(f"{what} is {len(value)} characters; the limit is {MAX_NAME_CHARS}")

