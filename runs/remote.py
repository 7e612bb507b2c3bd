"""Functions served over HTTP by an official Inngest SDK app, as the engine and the store see them.

A neutral module (plain records, no I/O). A function's runtime is stored in its config (`config["runtime"]`):
absent for native `runs.sdk` functions, "inngest-py" or "inngest-js" for SDK apps.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNTIME_NATIVE = "python"
RUNTIME_INNGEST_PY = "inngest-py"
RUNTIME_INNGEST_JS = "inngest-js"
RUNTIME_LABELS = {RUNTIME_NATIVE: "Python native", RUNTIME_INNGEST_PY: "inngest-py", RUNTIME_INNGEST_JS: "inngest-js"}


def composite_id(app_id: str, function_id: str) -> str:
    """The id Inngest SDKs name a function by: `<app id>-<function id>` (step.invoke's `function_id`)."""
    return f"{app_id}-{function_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFunction:
    """What the HTTP driver needs to call one function of an SDK app."""

    app_id: str
    function_id: str  # without the app prefix
    url: str  # the function's call URL as registered (`steps.step.runtime.url`, with fnId and stepId=step)
    runtime: str  # RUNTIME_INNGEST_PY or RUNTIME_INNGEST_JS
    retries: int  # retries per step and for the body (Inngest's `retries.attempts`)
    name: str = ""  # the function's readable name

    @property
    def composite_id(self) -> str:
        return composite_id(self.app_id, self.function_id)
