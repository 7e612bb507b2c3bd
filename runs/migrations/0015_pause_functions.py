# Pausing a function (runs/store/pausing.py). db_default: processes of the version before, which know no such
# columns, go on inserting rows while a rolling upgrade migrates.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0014_incidents'),
    ]

    operations = [
        migrations.AddField(
            model_name='function',
            name='paused',
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.AddField(
            model_name='run',
            name='paused',
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.AddIndex(
            model_name='function',
            index=models.Index(condition=models.Q(('paused', True)), fields=['app_id', 'function_id'], name='function_paused'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('paused', True)), fields=['app_id', 'function_id'], name='run_parked'),
        ),
    ]
