"""What the engine needs from the store, as an interface: the engine never imports a store module.

The worker (runs/worker.py) hands the executor an object with these four operations; `runs.store.passes`
provides them. Another store (a test double, a remote one) only has to provide the same three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from runs.domain import ClaimedRun
from runs.ops import Outcome, StepMemo, StepOp
from runs.remote import RemoteFunction


class PassStore(Protocol):
    def remote_function(self, app_id: str, function_id: str) -> RemoteFunction | None:
        """The SDK app function (served over HTTP) registered under these ids, or None."""

    def load_memo(self, claim: ClaimedRun) -> dict[str, StepMemo]:
        """The run's recorded steps, keyed by step id (waits whose deadline passed settled first)."""

    def commit_checkpoint(self, claim: ClaimedRun, ops: Sequence[StepOp]) -> None:
        """Make steps durable mid-pass; raises LeaseLost (cancelled, taken over) or CommitRefused."""

    def handover_open(self) -> bool:
        """Whether the pass about to run shares the open transaction of the hop that handed it over."""

    def settle_handover(self) -> None:
        """Commit that shared transaction now: the pass is about to do something outside the database (run a
        step's code, call an SDK app). Raises LeaseLost if the run is no longer this worker's."""

    def finish_pass(self, claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome,
                    memo: dict[str, StepMemo], *, checkpointed: bool = False) -> ClaimedRun | None:
        """Commit a pass's remaining steps and its outcome and release the lease; returns a run handed to
        this worker to execute next, if any."""
