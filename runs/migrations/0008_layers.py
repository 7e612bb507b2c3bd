"""Run.failed_step_id: the step whose failure failed a run, stored where the run fails instead of guessed later.

Runs that failed before this column existed get it from the guess that was made until now (the last failed
run/invoke step whose error is the run's, or whose child is the run's failure cause), once, here.
"""

from django.db import migrations, models


def backfill_failed_steps(apps, schema_editor):
    Run = apps.get_model("runs", "Run")
    Step = apps.get_model("runs", "Step")
    failed = Run.objects.filter(status="failed", failed_step_id__isnull=True).only(
        "id", "error", "failure_cause_run_id")
    for run in failed.iterator(chunk_size=500):
        error = run.error or {}
        for step in Step.objects.filter(run_id=run.id, status="failed", kind__in=["run", "invoke"]).order_by(
                "-position", "-id").only("step_id", "error", "child_run_id"):
            caused = run.failure_cause_run_id is not None and step.child_run_id == run.failure_cause_run_id
            step_error = step.error or {}
            if caused or (step_error.get("name") == error.get("name")
                          and step_error.get("message") == error.get("message")):
                Run.objects.filter(id=run.id).update(failed_step_id=step.step_id)
                break


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0007_prune_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="failed_step_id",
            field=models.CharField(max_length=300, null=True),
        ),
        migrations.RunPython(backfill_failed_steps, migrations.RunPython.noop),
    ]
