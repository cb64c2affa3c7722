"""Fenced record claims (dispatch number, lease, processing state), chunked record jobs, cycle reason codes."""

import django.core.validators
from django.db import migrations, models


def legacy_job_ids(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Records queued by the previous release keep the job id its worker will run them under."""
    record = apps.get_model("robot", "ProcessedRecord")
    for pk, dispatch in record.objects.filter(status="queued").values_list("pk", "dispatch").iterator():
        record.objects.filter(pk=pk).update(job_id=f"rec-{pk}-{dispatch}")


class Migration(migrations.Migration):
    dependencies = [("robot", "0001_initial")]

    operations = [
        migrations.RenameField(model_name="processedrecord", old_name="dispatches", new_name="dispatch"),
        migrations.AddField(
            model_name="processedrecord",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="processedrecord",
            name="job_id",
            field=models.CharField(blank=True, help_text="The RQ job of the current dispatch.", max_length=100),
        ),
        migrations.AddField(
            model_name="processedrecord",
            name="lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="robot",
            name="chunk_size",
            field=models.PositiveSmallIntegerField(
                default=10,
                help_text="Records per RQ job (each record keeps its own claim, outcome and retries).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
            ),
        ),
        migrations.AddField(
            model_name="robotcycle",
            name="error_code",
            field=models.CharField(blank=True, help_text="Stable reason code of a failed cycle.", max_length=32),
        ),
        migrations.AlterField(
            model_name="processedrecord",
            name="dispatch",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="processedrecord",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("processing", "Processing"),
                    ("done", "Done"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="queued",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="robot",
            constraint=models.CheckConstraint(
                condition=models.Q(("chunk_size__gte", 1), ("chunk_size__lte", 1000)), name="robot_chunk_size_range"
            ),
        ),
        migrations.RunPython(legacy_job_ids, migrations.RunPython.noop),
    ]
