"""Execute one claimed run: load its steps, run one pass through the driver, commit the outcome."""

from __future__ import annotations

import logging

from runs import conf
from runs.domain import ClaimedRun
from runs.engine import driver
from runs.engine.passes import Invocation
from runs.engine.ports import PassStore
from runs.errors import ErrorRecord
from runs.exceptions import CommitRefused, FunctionNotFoundError
from runs.ops import RunFailed, StepOp
from runs.sdk.app import find_function

logger = logging.getLogger("runs.worker")


def execute_claimed(claim: ClaimedRun, store: PassStore) -> ClaimedRun | None:
    """Run one pass of a claimed run, committing through `store`; returns a run handed to this worker to
    execute next, if any."""
    function = find_function(claim.app_id, claim.function_id)
    memo = store.load_memo(claim)
    if function is None:
        missing = ErrorRecord.raised_as(
            FunctionNotFoundError, f"function {claim.function_id!r} of app {claim.app_id!r} is not defined in "
                                   f"this worker's code")
        return store.finish_pass(claim, [], RunFailed(error=missing.to_json()), memo)
    invocation = Invocation(
        run_id=claim.id, app_id=claim.app_id, function_id=claim.function_id, event=claim.event, memo=memo,
        body_failures=claim.body_failures, depth=claim.depth,
        retry_base_seconds=conf.get("RUNS_RETRY_BASE_SECONDS"), max_depth=conf.get("RUNS_MAX_INVOKE_DEPTH"),
    )
    checkpoints = 0

    def checkpoint(ops: list[StepOp]) -> None:
        nonlocal checkpoints
        store.commit_checkpoint(claim, ops)
        checkpoints += 1

    try:
        result = driver.execute(function, invocation, checkpoint)
        return store.finish_pass(claim, result.ops, result.outcome, memo, checkpointed=checkpoints > 0)
    except CommitRefused as refused:
        # What the pass did cannot be stored (a value the database refuses): the run fails with the
        # database's error, keeping what earlier commits stored, instead of coming back at every lease expiry.
        logger.error("run %s (%s/%s) failed: %s", claim.id, claim.app_id, claim.function_id, refused)
        error = ErrorRecord.from_exception(refused, with_stack=False).to_json()
        return store.finish_pass(claim, [], RunFailed(error=error), memo, checkpointed=checkpoints > 0)
