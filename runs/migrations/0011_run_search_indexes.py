"""Indexes for searching runs (dashboard, issue 11 item 7), PostgreSQL only: a GIN index (jsonb_path_ops) that
serves `event_data @> {"key": value}`, and pattern-ops btrees so `id LIKE 'prefix%'` / `event_id LIKE ...`
and the event-name match use an index whatever the database's collation (the primary key has its own: Django
creates a varchar_pattern_ops `..._like` index beside every indexed CharField on PostgreSQL). SQLite has
neither operator class nor @> (the dashboard compares keys there), so this migration does nothing on it. Built CONCURRENTLY so a large runs
table keeps taking writes; kept out of the model state because Django's GinIndex would be created on SQLite too.
"""

from django.db import migrations

INDEXES = {
    "run_event_data_gin": "USING gin (event_data jsonb_path_ops)",
    "run_event_id_prefix": "(event_id varchar_pattern_ops)",
    "run_event_name_created": "(event_name, created_at DESC)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in INDEXES.items():
        # event_data is a jsonb column: Django's JSONField maps to jsonb on PostgreSQL.
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "runs_run" {spec}')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('runs', '0010_run_attempts_history'),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
