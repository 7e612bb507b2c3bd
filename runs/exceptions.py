"""Every exception of the engine and the SDK. Users import the SDK ones from `runs.sdk`."""

from __future__ import annotations

from typing import Any


class TributaryError(Exception):
    """Base class of every error raised by Tributary itself."""


# --- Client and store ------------------------------------------------------------------------------------


class InvalidEvent(TributaryError, ValueError):
    """An event was refused at intake (name, data, size); nothing was stored."""


class IntakeLimitExceeded(InvalidEvent):
    """A request carried more events, or bigger ones, than intake takes at once (HTTP 413); nothing was stored."""


class RunNotFound(TributaryError, LookupError):
    """No run has that id."""


class EventNotFound(TributaryError, LookupError):
    """No stored event has that id (never received, or pruned)."""


class IncidentNotFound(RunNotFound):
    """No incident has that id (a RunNotFound, so every action's edge answers it as a 404)."""


class FunctionUnknown(RunNotFound):
    """No registered function has that app id and function id (a 404, as a missing run is)."""


class ActionRefused(TributaryError, ValueError):
    """An operator action cannot apply to the run in its current state."""


class InvalidFilter(ActionRefused):
    """A bulk action's filters are malformed (unknown key, wrong type, bad date): the request's fault."""


class InvalidRetry(InvalidFilter):
    """A retry asked for what the run does not have (an unknown step): the request's fault, a 400."""


class LeaseLost(TributaryError):
    """Another worker took over a run while this one executed it; this worker's results are discarded."""


class CommitRefused(TributaryError):
    """The database refused, for good, to store what a pass did (not a passing fault): the run fails with
    the database's error rather than coming back at every lease expiry."""


class PruneRefused(TributaryError, ValueError):
    """A prune was asked with a bad age or batch size, or the retention setting is malformed."""


# --- Raised in user code -----------------------------------------------------------------------------------


class NonRetriableError(TributaryError):
    """Fails the step (or the run) at once, without further retries."""


class RetryAfterError(TributaryError):
    """Retry the step at a given time; `retry_after` is milliseconds, a timedelta or a datetime."""

    def __init__(self, message: str, retry_after: Any) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StepError(NonRetriableError):
    """A step failed for good: carries the failed step's (or invoked run's) error name, message and stack."""

    def __init__(self, message: str, *, name: str = "Error", stack: str | None = None, run_id: str | None = None,
                 step_id: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.stack = stack
        self.run_id = run_id
        self.step_id = step_id

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.name not in ("", type(self).__name__) else self.message


class InvokeTimeoutError(StepError):
    """The invoked run did not finish before the invoke's timeout; it keeps running."""


class FunctionNotFoundError(StepError):
    """The invoked function is not registered."""


class InvokeCancelledError(StepError):
    """The invoked run was cancelled."""


class InvokeDepthError(StepError):
    """The invocation chain is deeper than RUNS_MAX_INVOKE_DEPTH."""


class RateLimitedError(StepError):
    """The invoked function was rate limited: its run was skipped (S12)."""


class NondeterminismError(NonRetriableError):
    """The function's code no longer matches the steps recorded for this run."""


class SerializationError(NonRetriableError):
    """A value crossing a step or run boundary is not JSON."""


class InvalidStepEvent(InvalidEvent, NonRetriableError):
    """step.send_event was given an event intake would refuse; retrying the same code cannot help."""


class LimitExceeded(NonRetriableError, ValueError):
    """A run went past one of the engine's limits (steps per run, output size, the length of an id or name)."""


STEP_ERROR_CLASSES: dict[str, type[StepError]] = {
    cls.__name__: cls for cls in (InvokeTimeoutError, FunctionNotFoundError, InvokeCancelledError, InvokeDepthError,
                                  RateLimitedError)
}
