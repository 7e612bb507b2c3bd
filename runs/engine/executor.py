"""Execute one claimed run: load its steps, run one pass through the driver, commit the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from runs import conf, inngest_mode
from runs.domain import ClaimedRun
from runs.engine import driver, http_driver
from runs.engine.passes import Invocation
from runs.engine.ports import PassStore
from runs.errors import ErrorRecord
from runs.events import FUNCTION_INVOKED
from runs.exceptions import CommitRefused, FunctionNotFoundError
from runs.ops import PassResult, RunFailed, StepMemo, StepOp
from runs.remote import RemoteFunction
from runs.sdk.app import find_function

logger = logging.getLogger("runs.worker")


def execute_claimed(claim: ClaimedRun, store: PassStore) -> ClaimedRun | None:
    """Run one pass of a claimed run, committing through `store`; returns a run handed to this worker to
    execute next, if any."""
    function = find_function(claim.app_id, claim.function_id)
    memo = store.load_memo(claim)
    if function is None and (remote := store.remote_function(claim.app_id, claim.function_id)) is not None:
        return _execute_remote(claim, remote, memo, store)
    if function is None:
        missing = ErrorRecord.raised_as(
            FunctionNotFoundError, f"function {claim.function_id!r} of app {claim.app_id!r} not found: it is not "
                                   f"defined in this worker's code, and no synced SDK app serves it")
        return store.finish_pass(claim, [], RunFailed(error=missing.to_json()), memo)
    invocation = Invocation(
        run_id=claim.id, app_id=claim.app_id, function_id=claim.function_id, event=claim.event, memo=memo,
        body_failures=claim.body_failures, depth=claim.depth,
        retry_base_seconds=conf.get("RUNS_RETRY_BASE_SECONDS"), max_depth=conf.get("RUNS_MAX_INVOKE_DEPTH"),
        unsettled=store.handover_open(),
    )
    return _run_pass(claim, memo, store, lambda checkpoint: driver.execute(function, invocation, checkpoint))


def _execute_remote(claim: ClaimedRun, remote: RemoteFunction, memo: dict[str, StepMemo],
                    store: PassStore) -> ClaimedRun | None:
    """A function of an app served by an Inngest SDK: the pass is Call Requests to its URL."""
    store.settle_handover()  # the calls leave the process
    invocation = Invocation(
        run_id=claim.id, app_id=claim.app_id, function_id=claim.function_id, event=_sdk_event(claim, remote),
        memo=memo, body_failures=claim.body_failures, depth=claim.depth,
        retry_base_seconds=conf.get("RUNS_RETRY_BASE_SECONDS"), max_depth=conf.get("RUNS_MAX_INVOKE_DEPTH"),
    )
    timeout = conf.get("RUNS_INNGEST_CALL_TIMEOUT_SECONDS")
    keys, dev = inngest_mode.signing_keys(), inngest_mode.mode() == "dev"
    return _run_pass(claim, memo, store, lambda checkpoint: http_driver.execute(
        remote, invocation, checkpoint, signing_keys=keys, dev=dev, timeout=timeout))


def _sdk_event(claim: ClaimedRun, remote: RemoteFunction) -> dict[str, Any]:
    """The run's event as an SDK expects it: an invoked child's data carries Inngest's `_inngest` metadata."""
    event = claim.event
    if event.get("name") != FUNCTION_INVOKED or not claim.parent_run_id:
        return event
    meta = {"fn_id": remote.composite_id, "correlation_id": f"{claim.parent_run_id}.{claim.parent_step_id}",
            "source_run_id": claim.parent_run_id, "name": claim.parent_step_id}
    return {**event, "data": {**(event.get("data") or {}), "_inngest": meta}}


def _run_pass(claim: ClaimedRun, memo: dict[str, StepMemo], store: PassStore,
              run: Callable[[Callable[[list[StepOp]], None]], PassResult]) -> ClaimedRun | None:
    """One pass through a driver, its checkpoints and its outcome committed through `store`."""
    checkpoints = 0

    def checkpoint(ops: list[StepOp]) -> None:
        """Make `ops` durable before a side effect starts (no ops: only settle a shared hop commit)."""
        nonlocal checkpoints
        store.settle_handover()
        if ops:
            store.commit_checkpoint(claim, ops)
            checkpoints += 1

    try:
        result = run(checkpoint)
        return store.finish_pass(claim, result.ops, result.outcome, memo, checkpointed=checkpoints > 0)
    except CommitRefused as refused:
        # What the pass did cannot be stored (a value the database refuses): the run fails with the
        # database's error, keeping what earlier commits stored, instead of coming back at every lease expiry.
        logger.error("run %s (%s/%s) failed: %s", claim.id, claim.app_id, claim.function_id, refused)
        error = ErrorRecord.from_exception(refused, with_stack=False).to_json()
        return store.finish_pass(claim, [], RunFailed(error=error), memo, checkpointed=checkpoints > 0)
