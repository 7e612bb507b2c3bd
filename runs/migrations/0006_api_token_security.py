# API tokens: a SHA-256 digest instead of the token itself, a scope, an expiry and a revocation time.

import hashlib
from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

# Tokens made before scopes and expiry could act on runs and never expired: they keep acting (their users'
# permissions still apply), for 90 days, so that scripts keep working while their owners replace them.
LEGACY_TOKEN_DAYS = 90


def hash_existing_tokens(apps, schema_editor):
    token_model = apps.get_model("runs", "ApiToken")
    expires_at = timezone.now() + timedelta(days=LEGACY_TOKEN_DAYS)
    for token in token_model.objects.all().iterator():
        token.digest = hashlib.sha256(token.key.encode()).hexdigest()
        token.prefix = token.key[:12]
        token.scope = "operate"
        token.expires_at = expires_at
        token.save(update_fields=["digest", "prefix", "scope", "expires_at"])


def forget_tokens(apps, schema_editor):
    """Backwards: digests cannot become plain tokens again, so the tokens go (create new ones)."""
    apps.get_model("runs", "ApiToken").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0005_audit_runs'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='digest',
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='prefix',
            field=models.CharField(default='', max_length=12),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='scope',
            field=models.CharField(choices=[('read', 'read only'), ('operate', 'read and act on runs')],
                                   default='read', max_length=16),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='revoked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(hash_existing_tokens, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='apitoken',
            name='key',
        ),
        migrations.RunPython(migrations.RunPython.noop, forget_tokens),
        migrations.AlterField(
            model_name='apitoken',
            name='digest',
            field=models.CharField(max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name='apitoken',
            name='prefix',
            field=models.CharField(db_index=True, max_length=12),
        ),
    ]
