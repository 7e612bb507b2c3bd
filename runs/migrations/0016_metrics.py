"""Run metrics (issue 11 item 12): the per-minute roll-up, the totals and the roll-up's watermark
(runs/store/metrics.py), and the indexes on runs_run that find the runs started or ended in a range of minutes.

Those two indexes are built CONCURRENTLY on PostgreSQL, so a large runs table keeps taking writes meanwhile
(hence a non-atomic migration); they are the model's own indexes (run_started, run_ended), same names, same
partial condition, on SQLite too.
"""

from django.db import migrations, models

RUN_INDEXES = {
    "run_started": '("started_at") WHERE "started_at" IS NOT NULL',
    "run_ended": '("ended_at") WHERE "ended_at" IS NOT NULL',
}


COUNTERS = ("started", "completed", "failed", "cancelled", "duration_ms", "le_1ms", "le_2ms", "le_5ms", "le_10ms",
            "le_20ms", "le_50ms", "le_100ms", "le_200ms", "le_500ms", "le_1000ms", "le_2000ms", "le_5000ms",
            "le_10000ms", "le_30000ms", "le_60000ms", "le_120000ms", "le_300000ms", "le_900000ms", "le_3600000ms",
            "le_inf")
# PostgreSQL only, kept out of the model state (SQLite has no INCLUDE): a chart of one function reads its minutes
# from this index alone, not from heap pages the other functions' minutes are interleaved with.
COVERING = ('"metrics_function_minute_cover"', f'"runs_runmetricsminute" (app_id, function_id, minute) '
            f'INCLUDE ({", ".join(COUNTERS)})')


def create_run_indexes(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    concurrently = "CONCURRENTLY " if postgresql else ""
    for name, spec in RUN_INDEXES.items():
        schema_editor.execute(f'CREATE INDEX {concurrently}IF NOT EXISTS "{name}" ON "runs_run" {spec}')
    if postgresql:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {COVERING[0]} ON {COVERING[1]}")


def drop_run_indexes(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    concurrently = "CONCURRENTLY " if postgresql else ""
    for name in RUN_INDEXES:
        schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{name}"')
    if postgresql:
        schema_editor.execute(f"DROP INDEX IF EXISTS {COVERING[0]}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('runs', '0015_pause_functions'),
    ]

    operations = [
        migrations.CreateModel(
            name='RunMetricsMinute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('app_id', models.CharField(max_length=200)),
                ('function_id', models.CharField(max_length=200)),
                ('duration_ms', models.FloatField(default=0)),
                ('minute', models.BigIntegerField()),
                ('started', models.IntegerField(default=0)),
                ('completed', models.IntegerField(default=0)),
                ('failed', models.IntegerField(default=0)),
                ('cancelled', models.IntegerField(default=0)),
                ('le_1ms', models.IntegerField(default=0)),
                ('le_2ms', models.IntegerField(default=0)),
                ('le_5ms', models.IntegerField(default=0)),
                ('le_10ms', models.IntegerField(default=0)),
                ('le_20ms', models.IntegerField(default=0)),
                ('le_50ms', models.IntegerField(default=0)),
                ('le_100ms', models.IntegerField(default=0)),
                ('le_200ms', models.IntegerField(default=0)),
                ('le_500ms', models.IntegerField(default=0)),
                ('le_1000ms', models.IntegerField(default=0)),
                ('le_2000ms', models.IntegerField(default=0)),
                ('le_5000ms', models.IntegerField(default=0)),
                ('le_10000ms', models.IntegerField(default=0)),
                ('le_30000ms', models.IntegerField(default=0)),
                ('le_60000ms', models.IntegerField(default=0)),
                ('le_120000ms', models.IntegerField(default=0)),
                ('le_300000ms', models.IntegerField(default=0)),
                ('le_900000ms', models.IntegerField(default=0)),
                ('le_3600000ms', models.IntegerField(default=0)),
                ('le_inf', models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='RunMetricsRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rolled_to', models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='RunMetricsTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('app_id', models.CharField(max_length=200)),
                ('function_id', models.CharField(max_length=200)),
                ('duration_ms', models.FloatField(default=0)),
                ('started', models.BigIntegerField(default=0)),
                ('completed', models.BigIntegerField(default=0)),
                ('failed', models.BigIntegerField(default=0)),
                ('cancelled', models.BigIntegerField(default=0)),
                ('le_1ms', models.BigIntegerField(default=0)),
                ('le_2ms', models.BigIntegerField(default=0)),
                ('le_5ms', models.BigIntegerField(default=0)),
                ('le_10ms', models.BigIntegerField(default=0)),
                ('le_20ms', models.BigIntegerField(default=0)),
                ('le_50ms', models.BigIntegerField(default=0)),
                ('le_100ms', models.BigIntegerField(default=0)),
                ('le_200ms', models.BigIntegerField(default=0)),
                ('le_500ms', models.BigIntegerField(default=0)),
                ('le_1000ms', models.BigIntegerField(default=0)),
                ('le_2000ms', models.BigIntegerField(default=0)),
                ('le_5000ms', models.BigIntegerField(default=0)),
                ('le_10000ms', models.BigIntegerField(default=0)),
                ('le_30000ms', models.BigIntegerField(default=0)),
                ('le_60000ms', models.BigIntegerField(default=0)),
                ('le_120000ms', models.BigIntegerField(default=0)),
                ('le_300000ms', models.BigIntegerField(default=0)),
                ('le_900000ms', models.BigIntegerField(default=0)),
                ('le_3600000ms', models.BigIntegerField(default=0)),
                ('le_inf', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name='run',
                    index=models.Index(condition=models.Q(('started_at__isnull', False)), fields=['started_at'], name='run_started'),
                ),
                migrations.AddIndex(
                    model_name='run',
                    index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], name='run_ended'),
                ),
            ],
            database_operations=[migrations.RunPython(create_run_indexes, drop_run_indexes, elidable=False)],
        ),
        migrations.AddIndex(
            model_name='runmetricsminute',
            index=models.Index(fields=['app_id', 'function_id', 'minute'], name='metrics_function_minute'),
        ),
        migrations.AddConstraint(
            model_name='runmetricsminute',
            constraint=models.UniqueConstraint(fields=('minute', 'app_id', 'function_id'), name='metrics_minute_once'),
        ),
        migrations.AddConstraint(
            model_name='runmetricstotal',
            constraint=models.UniqueConstraint(fields=('app_id', 'function_id'), name='metrics_total_once'),
        ),
    ]
