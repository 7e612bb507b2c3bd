"""Execute one claimed run: load its steps, run one pass through the driver, commit the outcome."""

from __future__ import annotations

import logging

from runs import conf
from runs.domain import ClaimedRun
from runs.engine import driver
from runs.engine.ops import RunFailed, StepOp
from runs.engine.passes import Invocation
from runs.exceptions import CommitRefused
from runs.sdk.app import find_function
from runs.sdk.values import error_dict
from runs.store.passes import commit_checkpoint, finish_pass, load_memo

logger = logging.getLogger("runs.worker")


def execute_claimed(claim: ClaimedRun) -> ClaimedRun | None:
    """Run one pass of a claimed run; returns a run handed to this worker to execute next, if any."""
    function = find_function(claim.app_id, claim.function_id)
    memo = load_memo(claim)
    if function is None:
        error = {"name": "FunctionNotFoundError", "type": "FunctionNotFoundError", "stack": None,
                 "message": f"function {claim.function_id!r} of app {claim.app_id!r} is not defined in this "
                            f"worker's code"}
        return finish_pass(claim, [], RunFailed(error=error), memo)
    invocation = Invocation(
        run_id=claim.id, app_id=claim.app_id, function_id=claim.function_id, event=claim.event, memo=memo,
        body_failures=claim.body_failures, depth=claim.depth,
        retry_base_seconds=conf.get("RUNS_RETRY_BASE_SECONDS"), max_depth=conf.get("RUNS_MAX_INVOKE_DEPTH"),
    )
    checkpoints = 0

    def checkpoint(ops: list[StepOp]) -> None:
        nonlocal checkpoints
        commit_checkpoint(claim, ops)
        checkpoints += 1

    try:
        result = driver.execute(function, invocation, checkpoint)
        return finish_pass(claim, result.ops, result.outcome, memo, checkpointed=checkpoints > 0)
    except CommitRefused as refused:
        # What the pass did cannot be stored (a value the database refuses): the run fails with the
        # database's error, keeping what earlier commits stored, instead of coming back at every lease expiry.
        logger.error("run %s (%s/%s) failed: %s", claim.id, claim.app_id, claim.function_id, refused)
        error = error_dict(refused)
        error["stack"] = None
        return finish_pass(claim, [], RunFailed(error=error), memo, checkpointed=checkpoints > 0)
