"""Three indexes fewer for every run and step written (the hot path's cost, issue 12), none a query needs:

- run_parent (parent_run_id): `parent_run_id = ...` is served by the index of run_one_child_per_invoke_attempt
  (parent_run_id, parent_step_id, parent_step_attempt), whose condition (parent_run_id IS NOT NULL) any equality
  on parent_run_id implies.
- run_event (event_id), on PostgreSQL: run_event_id_prefix (varchar_pattern_ops, migration 0011) serves equality
  as well. SQLite has no such index, so it keeps run_event (removed from the model state only).
- the index of Step.run (run_id, with its varchar_pattern_ops twin on PostgreSQL): step_unique_id (run_id,
  step_id) serves `run_id = ...`. Dropped by name rather than by altering the field, which on SQLite would copy
  the whole table; SQLite keeps it.

Dropped CONCURRENTLY on PostgreSQL, so a busy database keeps taking writes.
"""

import django.db.models.deletion
from django.db import migrations, models


def _step_run_indexes(schema_editor):
    name = schema_editor._create_index_name("runs_step", ["run_id"])
    return [name, f"{name}_like"]


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for name in ["run_parent", "run_event", *_step_run_indexes(schema_editor)]:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    elif vendor == "sqlite":
        schema_editor.execute('DROP INDEX IF EXISTS "run_parent"')


def restore(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    concurrently = "CONCURRENTLY " if vendor == "postgresql" else ""
    schema_editor.execute(f'CREATE INDEX {concurrently}IF NOT EXISTS "run_parent" ON "runs_run" ("parent_run_id")')
    if vendor == "postgresql":
        schema_editor.execute('CREATE INDEX CONCURRENTLY IF NOT EXISTS "run_event" ON "runs_run" ("event_id")')
        name, like = _step_run_indexes(schema_editor)
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "runs_step" ("run_id")')
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{like}" ON "runs_step" '
                              '("run_id" varchar_pattern_ops)')


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('runs', '0016_metrics'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name='run', name='run_parent'),
                migrations.RemoveIndex(model_name='run', name='run_event'),
                migrations.AlterField(
                    model_name='step',
                    name='run',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='steps', to='runs.run'),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore, elidable=False)],
        ),
    ]
