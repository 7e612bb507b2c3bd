"""Apps and the functions registered on them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runs.events import FUNCTION_FINISHED, FUNCTION_INVOKED, RESERVED_PREFIX
from runs.sdk.flow import Cancel, Concurrency, Debounce, RateLimit

__all__ = ["DEFAULT_RETRIES", "FUNCTION_FINISHED", "FUNCTION_INVOKED", "RESERVED_PREFIX", "App", "FunctionDef",
           "FunctionRef", "all_functions", "find_function", "reference_function", "registered_apps"]

DEFAULT_RETRIES = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionRef:
    """A function named by id, to invoke it without importing its code (S3). app_id None: the caller's app."""

    function_id: str
    app_id: str | None = None


def reference_function(function_id: str, app_id: str | None = None) -> FunctionRef:
    """A function named by id, possibly of another app (`app_id=None`: the caller's own), to invoke without
    importing its code (S3); looked up when the invoke step runs."""
    if not function_id:
        raise ValueError("reference_function needs a function_id")
    return FunctionRef(function_id=function_id, app_id=app_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionDef:
    """A registered function: its code, ids, trigger and configuration."""

    app_id: str
    function_id: str
    handler: Callable[..., Any]
    trigger: str | None
    retries: int = DEFAULT_RETRIES
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
    debounce: Debounce | None = None
    cancel_on: tuple[Cancel, ...] = ()

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function (it gets the async step API)."""
        return inspect.iscoroutinefunction(self.handler)

    def config(self) -> dict[str, Any]:
        """The JSON configuration stored with the function: the engine reads flow control from it."""
        return {
            "retries": self.retries,
            "concurrency": self.concurrency.config() if self.concurrency else None,
            "rate_limit": self.rate_limit.config() if self.rate_limit else None,
            "debounce": self.debounce.config() if self.debounce else None,
            "cancel_on": [rule.config() for rule in self.cancel_on],
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.handler(*args, **kwargs)


class App:
    """A named group of functions. Every App registers itself so workers can find its functions."""

    def __init__(self, app_id: str) -> None:
        if not app_id:
            raise ValueError("an App needs an id")
        self.id = app_id
        self.functions: dict[str, FunctionDef] = {}
        _REGISTRY[app_id] = self if app_id not in _REGISTRY else _REGISTRY[app_id]._merge(self)

    def _merge(self, other: App) -> App:
        # Two App objects with one id (a module imported twice, or tests) share one function table.
        other.functions = self.functions
        return self

    def function(self, *, id: str, trigger: str | None = None, retries: int = DEFAULT_RETRIES,
                 concurrency: Concurrency | None = None, rate_limit: RateLimit | None = None,
                 debounce: Debounce | None = None,
                 cancel_on: Sequence[Cancel] = ()) -> Callable[[Callable[..., Any]], FunctionDef]:
        """Register the decorated callable as a durable function of this app.

        `id` names it (with the app id), `trigger` is the event name that starts runs (None: only invoked), `retries`
        the retries per step and for the body (S15); `concurrency`, `rate_limit`, `debounce` and `cancel_on` are its
        flow control (S17-S19). Returns the FunctionDef, which `step.invoke(function=...)` accepts."""
        if not id or not isinstance(id, str):
            raise ValueError("a function needs a string id")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError("retries must be an int >= 0")
        for value, kind in ((concurrency, Concurrency), (rate_limit, RateLimit), (debounce, Debounce)):
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"expected {kind.__name__}(...), not {type(value).__name__}")
        if any(not isinstance(rule, Cancel) for rule in cancel_on):
            raise TypeError("cancel_on takes a list of Cancel(...)")

        def register(handler: Callable[..., Any]) -> FunctionDef:
            definition = FunctionDef(app_id=self.id, function_id=id, handler=handler, trigger=trigger,
                                     retries=retries, concurrency=concurrency, rate_limit=rate_limit,
                                     debounce=debounce, cancel_on=tuple(cancel_on))
            self.functions[id] = definition
            return definition

        return register

    def find(self, function_id: str) -> FunctionDef | None:
        """The function registered under `function_id`, or None. A subclass may look further: the Django
        Tasks app (runs/tasks) imports a task by its module path, as a worker meets its runs."""
        return self.functions.get(function_id)


_REGISTRY: dict[str, App] = {}


def registered_apps() -> dict[str, App]:
    """The apps registered in this process, by id."""
    return _REGISTRY


def find_function(app_id: str, function_id: str) -> FunctionDef | None:
    """The registered function `function_id` of app `app_id`, or None."""
    app = _REGISTRY.get(app_id)
    return app.find(function_id) if app else None


def all_functions() -> list[FunctionDef]:
    """Every function registered in this process."""
    return [fn for app in _REGISTRY.values() for fn in app.functions.values()]
