"""The two writes of an invoke hop, each as ONE statement on PostgreSQL (one round trip).

A hop of a chain is two writes: the parent suspends and its child is created, then the child ends and the
parent resumes. Through the ORM each was BEGIN, three statements and COMMIT: five round trips, where the database
needs one. Here each is a single prepared statement of data-modifying CTEs (new rows as one JSON parameter,
runs/store/inserts.py), sent in autocommit, or in the transaction a hop shares with the pass it hands over
(runs/store/handovers.py):

- `suspend_and_start_child`: the parent's row (lease-checked), its child run (already leased to this worker) and
  its invoke step. The inserts select from the parent's UPDATE ... RETURNING, so a lost lease writes nothing.
- `end_and_resume`: the run's terminal row (lease-checked) with the steps its last pass finished, and for an
  invoked run the parent's invoke step resolved (only if it still waits on this very child) and the parent's
  row either leased to this worker (nothing else of it waits, nobody holds it, no concurrency key: the HAND_OFF
  conditions), or woken with the counted wake-up of rows.wake_resumed, or, for a fan-in's child whose parent is
  due anyway and unheld, only held FOR SHARE (see the statement). In one statement the parent's step cannot be
  resolved without the parent being woken or kept from being leased: no lost wake-up.

Rows are locked in the order of the ORM path (the run's own row, the parent's step, the parent's row), so the two
paths never wait on each other in opposite orders. Only the plain cases come here (runs/store/passes.py decides);
flow control, finished-event listeners, refusals and SQLite take the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DataError, connection, connections
from django.db.models import Model

from runs.domain import ClaimedRun
from runs.models import Run, Step
from runs.status import ACTIVE_RUN_STATUSES, StepStatus
from runs.store import sql
from runs.store.backends import backend
from runs.store.inserts import insert_from_json, row_json

_ACTIVE = "(" + ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_RUN_STATUSES)) + ")"
_WAITING = StepStatus.WAITING.value
# A run of a paused function is neither started here nor handed on (runs/store/pausing.py): the general path, or
# the next claim, queues or parks it.
_PAUSED = ("EXISTS (SELECT 1 FROM runs_function AS fn WHERE fn.paused AND fn.app_id = {run}.app_id "
           "AND fn.function_id = {run}.function_id)")


def _assignments(fields: dict[str, Any], table: type[Model]) -> tuple[str, list[Any]]:
    """`col = %s, ...` for an UPDATE of these model fields to these values."""
    db = connections[connection.alias]
    model_fields = [table._meta.get_field(name) for name in fields]
    return _set_clause(table, tuple(fields)), [field.get_db_prep_save(value, db)  # type: ignore[union-attr]
                                               for field, value in zip(model_fields, fields.values(), strict=True)]


@cache
def _set_clause(table: type[Model], names: tuple[str, ...]) -> str:
    return ", ".join(f"{connection.ops.quote_name(str(table._meta.get_field(name).column))} = %s"  # type: ignore[union-attr]
                     for name in names)


def suspend_and_start_child(claim: ClaimedRun, parent_fields: dict[str, Any], ready_at: datetime | None,
                            now: datetime, child: Run, step: Step) -> bool:
    """Suspend the parent (under its lease), insert its child and its invoke step; False: nothing was written (the
    lease was lost, or the child's function is paused: the general path queues the child instead). `parent_fields` are set as given; ready_at is `now` if the run was woken mid-pass."""
    sets, set_params = _assignments(parent_fields, Run)
    adapt = connection.ops.adapt_datetimefield_value
    statement = _suspend_statement(sets)
    params = [*set_params, claim.wakeups, adapt(now), adapt(ready_at), claim.id, claim.lease_owner,
              child.app_id, child.function_id, row_json([child]), row_json([step])]
    with backend().prepared_cursor(connection) as cursor:
        cursor.execute(statement, params)
        counts = sql.named_rows(cursor)[0]
    held, children, steps = counts["held"], counts["children"], counts["steps"]
    if held and (children, steps) != (1, 1):  # cannot happen: both inserts select from the parent's one row
        raise RuntimeError(f"suspending run {claim.id} wrote {children} child runs and {steps} steps")
    return bool(held)


@dataclass(frozen=True, slots=True)
class Resumed:
    ended: bool  # False: the lease was lost, nothing was written
    parent_resolved: bool  # the parent's invoke step took this run's result
    parent: dict[str, Any] | None  # the parent's row as leased to this worker (the claim statement's columns)
    parent_made_due: bool  # woken, now due and unheld: idle workers elsewhere must be told


def end_and_resume(claim: ClaimedRun, ended_fields: dict[str, Any], new_steps: list[Step],
                   step_fields: dict[str, Any] | None, now: datetime, later: datetime, token: str,
                   expiry: datetime) -> Resumed:
    """End the run (under its lease) with the steps its last pass finished; if it has a parent (`step_fields`),
    resolve the parent's invoke step and lease the parent to `token` or wake it (due at `now`, or at `later`
    while other steps of it still wait: a fan-in's wake-ups coalesce)."""
    end_sets, end_params = _assignments(ended_fields, Run)
    params = [*end_params, claim.id, claim.lease_owner, row_json(list(new_steps))]
    if step_fields is None:
        statement = _end_statement(end_sets)
        with backend().prepared_cursor(connection) as cursor:
            cursor.execute(statement, params)
            row = sql.named_rows(cursor)[0]
        return Resumed(ended=row["ended_count"] == 1, parent_resolved=False, parent=None, parent_made_due=False)
    step_sets, step_params = _assignments(step_fields, Step)
    adapt = connection.ops.adapt_datetimefield_value
    # A fan-in's children end together: if each locked its parent's row to count a wake-up, they would commit one
    # after another. A child whose parent (as of this statement's snapshot) nobody holds, which is due no later
    # than this child would make it due, and which waits on other steps too, changes nothing of the parent's row:
    # it only holds the row FOR SHARE (children's share locks do not conflict) until it commits. No worker can
    # lease the parent meanwhile (a claim's update waits, or skips it), so the pass that resumes the parent reads
    # this child's result; and the parent is due anyway. Two "last" children that each see the other still
    # waiting both leave the row alone: the parent, due at most COALESCE_WAKEUPS later, resumes then with both
    # results. Otherwise (someone holds the parent, it is not due, or nothing else of it waits) the row is locked
    # FOR UPDATE and read at its latest committed version: taken by this worker, or woken with a counted wake-up.
    # Should the row change while the share lock waits (a claim leased it), the statement fails as a whole
    # (SHARE_LOST) and is sent again without the shortcut.
    statement = _end_and_resume_statement(end_sets, step_sets)
    params += [*step_params, claim.parent_run_id, claim.parent_step_id, claim.id,
               adapt(later), claim.parent_step_id, adapt(later),
               adapt(later), adapt(now),
               adapt(now), token, adapt(expiry)]
    share_at = len(params) - 8  # the first `later`: NULL turns the shortcut off
    with backend().prepared_cursor(connection) as cursor:
        try:
            cursor.execute(statement, params)
        except DataError as exc:
            if SHARE_LOST not in str(exc):
                raise
            if not connection.get_autocommit():
                raise ShareLost(str(exc)) from exc  # the transaction is aborted: the caller sends it again alone
            params[share_at] = None
            cursor.execute(statement, params)
        row = sql.named_rows(cursor)[0]
    taken = bool(row.get("taken"))
    return Resumed(ended=row["ended_count"] == 1, parent_resolved=row["resolved_count"] == 1,
                   parent=row if taken else None, parent_made_due=bool(row.get("made_due")) and not taken)


@cache
def _suspend_statement(sets: str) -> str:
    """suspend_and_start_child's statement. Params: the parent's `sets`, its wake-up count, now, its ready_at,
    its id and lease token, the child's app and function, the child's row and the step's (row_json)."""
    return sql.compact(f"""
    WITH parent AS (
        UPDATE runs_run SET {sets}, ready_at = CASE WHEN wakeups <> %s THEN %s ELSE %s END
        WHERE id = %s AND lease_owner = %s
          AND NOT EXISTS (SELECT 1 FROM runs_function WHERE paused AND app_id = %s AND function_id = %s)
        RETURNING id
    ), child AS ({insert_from_json(Run, "parent")}
    ), step AS ({insert_from_json(Step, "parent")}
    )
    SELECT (SELECT count(*) FROM parent) AS held, (SELECT count(*) FROM child) AS children,
           (SELECT count(*) FROM step) AS steps""")


@cache
def _end_statement(end_sets: str) -> str:
    """end_and_resume's statement for a run nobody invoked. Params: the `end_sets`', the run's id and lease
    token, its new steps (row_json)."""
    return sql.compact(f"""
    WITH ended AS (
        UPDATE runs_run SET {end_sets} WHERE id = %s AND lease_owner = %s RETURNING id
    ), new_steps AS ({insert_from_json(Step, "ended")}
    )
    SELECT (SELECT count(*) FROM ended) AS ended_count, 0 AS resolved_count""")


class ShareLost(Exception):
    """end_and_resume's shortcut failed inside a transaction (handovers.py), which is now aborted."""


SHARE_LOST = "tributary: the parent changed while its share lock waited"


@cache
def _end_and_resume_statement(end_sets: str, step_sets: str) -> str:
    """end_and_resume's statement for an invoked run (see there). Params after the ended run's and its new steps':
    the parent's step (run id, step id, child id), `later` (or NULL: no shortcut), the step id, `later`,
    the due times (later, now), then now, the lease token and expiry for a take. (SHARE_LOST's text comes from
    a subquery: a constant would be cast, and fail, when the statement is planned.)"""
    return sql.compact(f"""
    WITH ended AS (
        UPDATE runs_run SET {end_sets} WHERE id = %s AND lease_owner = %s RETURNING id
    ), new_steps AS ({insert_from_json(Step, "ended")}
    ), resolved AS (
        UPDATE runs_step SET {step_sets}
        WHERE run_id = %s AND step_id = %s AND status = '{_WAITING}' AND child_run_id = %s
          AND EXISTS (SELECT 1 FROM ended)
        RETURNING run_id
    ), seen AS (
        SELECT run.id AS run_id, others.exist,
               COALESCE(run.lease_owner IS NULL AND run.ready_at <= %s::timestamptz AND others.exist, FALSE)
                   AS shortcut
        FROM runs_run AS run, LATERAL (SELECT EXISTS (
            SELECT 1 FROM runs_step AS other WHERE other.run_id = run.id AND other.status = '{_WAITING}'
              AND other.step_id <> %s) AS exist) AS others
        WHERE run.id IN (SELECT run_id FROM resolved) AND run.status IN {_ACTIVE}
    ), shared AS (
        SELECT run.id FROM runs_run AS run
        WHERE run.id IN (SELECT run_id FROM seen WHERE shortcut)
          AND run.lease_owner IS NULL AND run.ready_at <= %s::timestamptz AND run.status IN {_ACTIVE}
        FOR SHARE
    ), waits AS MATERIALIZED (
        SELECT run.id AS run_id,
               (run.lease_owner IS NULL AND run.concurrency_key IS NULL AND NOT seen.exist
                AND NOT {_PAUSED.format(run="run")}) AS take,
               CASE WHEN seen.exist THEN %s::timestamptz ELSE %s::timestamptz END AS due
        FROM runs_run AS run JOIN seen ON seen.run_id = run.id
        WHERE NOT seen.shortcut AND run.status IN {_ACTIVE}
        FOR UPDATE OF run
    ), parent AS (
        UPDATE runs_run SET
            status = CASE WHEN waits.take AND runs_run.status IN ('queued', 'waiting') THEN 'running' ELSE runs_run.status END,
            status_reason = CASE WHEN waits.take AND runs_run.status IN ('queued', 'waiting') THEN '' ELSE runs_run.status_reason END,
            version = runs_run.version + CASE WHEN waits.take AND runs_run.status IN ('queued', 'waiting') THEN 1 ELSE 0 END,
            started_at = CASE WHEN waits.take THEN COALESCE(runs_run.started_at, %s) ELSE runs_run.started_at END,
            lease_owner = CASE WHEN waits.take THEN %s ELSE runs_run.lease_owner END,
            throttled = CASE WHEN waits.take THEN FALSE ELSE runs_run.throttled END,
            wakeups = runs_run.wakeups + CASE WHEN waits.take THEN 0 ELSE 1 END,
            ready_at = CASE WHEN waits.take THEN %s
                            WHEN runs_run.lease_owner IS NULL
                                 AND (runs_run.ready_at IS NULL OR runs_run.ready_at > waits.due) THEN waits.due
                            ELSE runs_run.ready_at END
        FROM waits
        WHERE runs_run.id = waits.run_id
        {sql.CLAIM_RETURNING.rstrip()},
            waits.take AS taken,
            (NOT waits.take AND runs_run.lease_owner IS NULL AND runs_run.ready_at = waits.due) AS made_due
    )
    SELECT (SELECT count(*) FROM ended) AS ended_count, (SELECT count(*) FROM resolved) AS resolved_count,
           CASE WHEN (SELECT count(*) FROM seen WHERE shortcut) > (SELECT count(*) FROM shared)
                THEN CAST((SELECT '{SHARE_LOST}'::text) AS integer) ELSE 0 END AS share_lost,
           parent.*
    FROM (SELECT 1) AS one LEFT JOIN parent ON TRUE""")
