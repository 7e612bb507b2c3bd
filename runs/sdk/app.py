"""Apps and the functions registered on them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESERVED_PREFIX = "inngest/"
FUNCTION_FINISHED = "inngest/function.finished"
FUNCTION_INVOKED = "inngest/function.invoked"
DEFAULT_RETRIES = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionRef:
    """A function named by id, to invoke it without importing its code (S3). app_id None: the caller's app."""

    function_id: str
    app_id: str | None = None


def reference_function(function_id: str, app_id: str | None = None) -> FunctionRef:
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
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def config(self) -> dict[str, Any]:
        return {"retries": self.retries, **self.options}

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
                 **options: Any) -> Callable[[Callable[..., Any]], FunctionDef]:
        if not id:
            raise ValueError("a function needs an id")
        if retries < 0:
            raise ValueError("retries must be >= 0")

        def register(handler: Callable[..., Any]) -> FunctionDef:
            definition = FunctionDef(app_id=self.id, function_id=id, handler=handler, trigger=trigger,
                                     retries=retries, options=options)
            self.functions[id] = definition
            return definition

        return register


_REGISTRY: dict[str, App] = {}


def registered_apps() -> dict[str, App]:
    return _REGISTRY


def find_function(app_id: str, function_id: str) -> FunctionDef | None:
    app = _REGISTRY.get(app_id)
    return app.functions.get(function_id) if app else None


def all_functions() -> list[FunctionDef]:
    return [fn for app in _REGISTRY.values() for fn in app.functions.values()]
