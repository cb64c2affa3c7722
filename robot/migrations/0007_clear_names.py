"""Say what the fields are: ``records`` is the batch size, ``job_id`` the chain token. A pure rename, data kept.

The check constraint is dropped before the rename and re-added after it under its new name: a renamed field
does not rewrite the conditions of the constraints that name it.
"""

import django.core.validators
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [
        ("robot", "0006_dashboard_permissions"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="robot", name="robot_records_range"),
        migrations.RenameField(model_name="robot", old_name="records", new_name="batch_size"),
        migrations.RenameField(model_name="robot", old_name="job_id", new_name="chain_token"),
        migrations.AlterField(
            model_name="robot",
            name="batch_size",
            field=models.PositiveIntegerField(
                default=20,
                help_text='Most records one cycle takes from the source; "records" in the JSON API.',
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(10000),
                ],
                verbose_name="batch size (records per cycle)",
            ),
        ),
        migrations.AlterField(
            model_name="robot",
            name="chain_token",
            field=models.CharField(
                blank=True,
                help_text='Id of the one RQ job allowed to start the next cycle (empty when none); "job_id" in the JSON API.',
                max_length=100,
                verbose_name="chain token (job_id)",
            ),
        ),
        migrations.AlterField(
            model_name="robotcycle",
            name="job_id",
            field=models.CharField(
                blank=True, help_text="The RQ job that ran this cycle (its chain token).", max_length=100
            ),
        ),
        migrations.AddConstraint(
            model_name="robot",
            constraint=models.CheckConstraint(
                condition=Q(batch_size__gte=1, batch_size__lte=10000), name="robot_batch_size_range"
            ),
        ),
    ]
