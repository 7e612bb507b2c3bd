"""The two commits of an invoke hop, each as ONE statement on PostgreSQL (one round trip, its own transaction).

A hop of a chain costs two commits whatever we do: the parent suspends and its child is created, then the child
ends and the parent resumes. Through the ORM each was BEGIN, three statements and COMMIT: five round trips, where
the database needs one. Here each is a single statement of data-modifying CTEs, sent in autocommit:

- `suspend_and_start_child`: the parent's row (lease-checked), its child run (already leased to this worker) and
  its invoke step. The inserts select from the parent's UPDATE ... RETURNING, so a lost lease writes nothing.
- `end_and_resume`: the run's terminal row (lease-checked) with the steps its last pass finished, and for an
  invoked run the parent's invoke step resolved (only if it still waits on this very child) and the parent's row either leased to this worker (nothing else of it waits, nobody
  holds it, no concurrency key: the HAND_OFF conditions) or woken, with the counted wake-up of rows.wake_resumed.
  In one statement the parent's step cannot be resolved without the parent being woken: no lost wake-up.

Rows are locked in the order of the ORM path (the run's own row, the parent's step, the parent's row), so the two
paths never wait on each other in opposite orders. Only the plain cases come here (runs/store/passes.py decides);
flow control, finished-event listeners, refusals and SQLite take the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from runs.domain import ClaimedRun
from runs.models import Run, Step
from runs.status import ACTIVE_RUN_STATUSES, StepStatus
from runs.store import sql
from runs.store.backends import backend

_ACTIVE = "(" + ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_RUN_STATUSES)) + ")"
_WAITING = StepStatus.WAITING.value
# A run of a paused function is neither started here nor handed on (runs/store/pausing.py): the general path, or
# the next claim, queues or parks it.
_PAUSED = ("EXISTS (SELECT 1 FROM runs_function AS fn WHERE fn.paused AND fn.app_id = {run}.app_id "
           "AND fn.function_id = {run}.function_id)")


def insert_values(obj: Model) -> tuple[list[str], list[Any]]:
    """The columns and database values of an unsaved model instance, as its INSERT would write them."""
    columns, values = [], []
    for field in obj._meta.concrete_fields:
        if field.primary_key and getattr(field, "db_returning", False):
            continue  # an auto id: the database assigns it
        columns.append(connection.ops.quote_name(str(field.column)))
        values.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return columns, values


def _assignments(fields: dict[str, Any], table: type[Model]) -> tuple[str, list[Any]]:
    """`col = %s, ...` for an UPDATE of these model fields to these values."""
    parts, params = [], []
    for name, value in fields.items():
        field: Any = table._meta.get_field(name)
        parts.append(f"{connection.ops.quote_name(str(field.column))} = %s")
        params.append(field.get_db_prep_save(value, connection))
    return ", ".join(parts), params


def suspend_and_start_child(claim: ClaimedRun, parent_fields: dict[str, Any], ready_at: datetime | None,
                            now: datetime, child: Run, step: Step) -> bool:
    """Suspend the parent (under its lease), insert its child and its invoke step; False: nothing was written (the
    lease was lost, or the child's function is paused: the general path queues the child instead). `parent_fields` are set as given; ready_at is `now` if the run was woken mid-pass."""
    sets, set_params = _assignments(parent_fields, Run)
    run_columns, run_values = insert_values(child)
    step_columns, step_values = insert_values(step)
    adapt = connection.ops.adapt_datetimefield_value
    statement = f"""
    WITH parent AS (
        UPDATE runs_run SET {sets}, ready_at = CASE WHEN wakeups <> %s THEN %s ELSE %s END
        WHERE id = %s AND lease_owner = %s
          AND NOT EXISTS (SELECT 1 FROM runs_function WHERE paused AND app_id = %s AND function_id = %s)
        RETURNING id
    ), child AS (
        INSERT INTO runs_run ({", ".join(run_columns)}) SELECT {", ".join(["%s"] * len(run_values))} FROM parent
        RETURNING id
    ), step AS (
        INSERT INTO runs_step ({", ".join(step_columns)}) SELECT {", ".join(["%s"] * len(step_values))} FROM parent
        RETURNING id
    )
    SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child), (SELECT count(*) FROM step)"""
    params = [*set_params, claim.wakeups, adapt(now), adapt(ready_at), claim.id, claim.lease_owner,
              child.app_id, child.function_id, *run_values, *step_values]
    with backend().prepared_cursor(connection) as cursor:
        cursor.execute(statement, params)
        held, children, steps = cursor.fetchone()
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
    inserts, insert_params = [], []
    for n, step in enumerate(new_steps):  # one INSERT each: a VALUES list would type its NULLs as text
        columns, values = insert_values(step)
        inserts.append(f""", step_{n} AS (
        INSERT INTO runs_step ({", ".join(columns)}) SELECT {", ".join(["%s"] * len(values))} FROM ended
        RETURNING id)""")
        insert_params += values
    params = [*end_params, claim.id, claim.lease_owner, *insert_params]
    if step_fields is None:
        statement = f"""
    WITH ended AS (
        UPDATE runs_run SET {end_sets} WHERE id = %s AND lease_owner = %s RETURNING id
    ){"".join(inserts)}
    SELECT (SELECT count(*) FROM ended) AS ended_count, 0 AS resolved_count"""
        with backend().prepared_cursor(connection) as cursor:
            cursor.execute(statement, params)
            row = sql.named_rows(cursor)[0]
        return Resumed(ended=row["ended_count"] == 1, parent_resolved=False, parent=None, parent_made_due=False)
    step_sets, step_params = _assignments(step_fields, Step)
    adapt = connection.ops.adapt_datetimefield_value
    # The parent's row is locked (FOR UPDATE) before it is read: whether it can be taken, and when it is due if
    # not, are decided on its latest committed version, as the separate statements of the ORM path decide them.
    statement = f"""
    WITH ended AS (
        UPDATE runs_run SET {end_sets} WHERE id = %s AND lease_owner = %s RETURNING id
    ){"".join(inserts)}, resolved AS (
        UPDATE runs_step SET {step_sets}
        WHERE run_id = %s AND step_id = %s AND status = '{_WAITING}' AND child_run_id = %s
          AND EXISTS (SELECT 1 FROM ended)
        RETURNING run_id
    ), waits AS MATERIALIZED (
        SELECT run.id AS run_id,
               (run.lease_owner IS NULL AND run.concurrency_key IS NULL AND NOT others.exist
                AND NOT {_PAUSED.format(run="run")}) AS take,
               (run.lease_owner IS NULL AND run.concurrency_key IS NULL AND NOT others.exist
                AND NOT {_PAUSED.format(run="run")} AND run.status IN ('queued', 'waiting')) AS starts,
               CASE WHEN others.exist THEN %s ELSE %s END AS due
        FROM runs_run AS run, LATERAL (SELECT EXISTS (
            SELECT 1 FROM runs_step AS other WHERE other.run_id = run.id AND other.status = '{_WAITING}'
              AND other.step_id <> %s) AS exist) AS others
        WHERE run.id IN (SELECT run_id FROM resolved) AND run.status IN {_ACTIVE}
        FOR UPDATE OF run
    ), parent AS (
        UPDATE runs_run SET
            status = CASE WHEN waits.starts THEN 'running' ELSE runs_run.status END,
            status_reason = CASE WHEN waits.starts THEN '' ELSE runs_run.status_reason END,
            version = runs_run.version + CASE WHEN waits.starts THEN 1 ELSE 0 END,
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
    SELECT (SELECT count(*) FROM ended) AS ended_count, (SELECT count(*) FROM resolved) AS resolved_count, parent.*
    FROM (SELECT 1) AS one LEFT JOIN parent ON TRUE"""
    params += [*step_params, claim.parent_run_id, claim.parent_step_id, claim.id,
              adapt(later), adapt(now), claim.parent_step_id,
              adapt(now), token, adapt(expiry)]
    with backend().prepared_cursor(connection) as cursor:
        cursor.execute(statement, params)
        row = sql.named_rows(cursor)[0]
    taken = bool(row.get("taken"))
    return Resumed(ended=row["ended_count"] == 1, parent_resolved=row["resolved_count"] == 1,
                   parent=row if taken else None, parent_made_due=bool(row.get("made_due")) and not taken)
