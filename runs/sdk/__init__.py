"""What users import to write durable functions."""

from runs.exceptions import (
    FunctionNotFoundError,
    InvalidEvent,
    InvokeCancelledError,
    InvokeDepthError,
    InvokeTimeoutError,
    NondeterminismError,
    NonRetriableError,
    RateLimitedError,
    RetryAfterError,
    SerializationError,
    StepError,
)
from runs.sdk.app import App, FunctionDef, FunctionRef, reference_function
from runs.sdk.context import Context, EventData
from runs.sdk.flow import Cancel, Concurrency, Debounce, RateLimit
from runs.sdk.steps import AsyncStep, SyncStep

__all__ = [
    "App",
    "AsyncStep",
    "Cancel",
    "Concurrency",
    "Debounce",
    "RateLimit",
    "RateLimitedError",
    "Context",
    "EventData",
    "FunctionDef",
    "FunctionNotFoundError",
    "FunctionRef",
    "InvalidEvent",
    "InvokeCancelledError",
    "InvokeDepthError",
    "InvokeTimeoutError",
    "NonRetriableError",
    "NondeterminismError",
    "RetryAfterError",
    "SerializationError",
    "StepError",
    "SyncStep",
    "reference_function",
]
