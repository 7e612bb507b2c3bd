"""Indexes for data retention (runs/store/prune.py): finished roots oldest first, links to a pruned run, the
events a pruned run sent. Built CONCURRENTLY on PostgreSQL, so a large runs table keeps taking writes meanwhile."""

from django.db import migrations, models


class AddIndexOnline(migrations.AddIndex):
    """AddIndex without blocking writers on PostgreSQL; a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('runs', '0006_api_token_security'),
    ]

    operations = [
        AddIndexOnline(
            model_name='event',
            index=models.Index(condition=models.Q(('sent_by_run_id', ''), _negated=True), fields=['sent_by_run_id'],
                               name='event_sent_by'),
        ),
        AddIndexOnline(
            model_name='run',
            index=models.Index(condition=models.Q(('parent_run_id__isnull', True)), fields=['ended_at', 'id'],
                               name='run_root_ended'),
        ),
        AddIndexOnline(
            model_name='run',
            index=models.Index(condition=models.Q(('superseded_by_run_id__isnull', False)),
                               fields=['superseded_by_run_id'], name='run_superseded_by'),
        ),
    ]
