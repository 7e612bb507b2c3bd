"""CEL expressions of SDK functions (`waitForEvent`'s `if`, `cancel[].if`), evaluated with the maintained
`common-expression-language` package: `event` is the run's triggering event, `async` the incoming one."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cel


class ExpressionError(ValueError):
    """An expression that does not compile (reported when the function syncs or the step is planned)."""


@lru_cache(maxsize=512)
def _program(expression: str) -> Any:
    try:
        return cel.compile(expression)
    except Exception as exc:  # the library raises its own error types for syntax errors
        raise ExpressionError(f"CEL expression {expression!r} does not compile: {exc}") from None


def check(expression: str) -> None:
    """Raise ExpressionError if `expression` is not valid CEL."""
    _program(expression)


def matches(expression: str, *, event: dict[str, Any], incoming: dict[str, Any]) -> bool:
    """Whether `expression` is true for the run's `event` and the `incoming` (async) event. A field missing
    from either event makes it false, as in Inngest, rather than an error."""
    program = _program(expression)
    try:
        return program.execute({"event": event, "async": incoming}) is True
    except Exception:
        return False
