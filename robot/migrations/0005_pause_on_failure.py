"""Pause on failure (a third state, the failure streak, why it paused), retry cycles, the new audit actions."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("robot", "0004_outbound_secrets"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="robot",
            name="robot_state_valid",
        ),
        migrations.AddField(
            model_name="robot",
            name="failed_cycles_in_a_row",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="robot",
            name="max_failed_cycles",
            field=models.PositiveSmallIntegerField(
                default=5,
                help_text="Consecutive failed cycles (fetch or fan-out failed) after which a running robot pauses; 0: never.",
                validators=[django.core.validators.MaxValueValidator(1000)],
            ),
        ),
        migrations.AddField(
            model_name="robot",
            name="paused_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="robot",
            name="paused_reason",
            field=models.CharField(blank=True, help_text="Why the robot paused itself.", max_length=255),
        ),
        migrations.AddField(
            model_name="robotcycle",
            name="retry_of",
            field=models.PositiveIntegerField(blank=True, help_text="Number of the cycle it retries.", null=True),
        ),
        migrations.AlterField(
            model_name="robot",
            name="state",
            field=models.CharField(
                choices=[("stopped", "Stopped"), ("running", "Running"), ("paused", "Paused after failures")],
                default="stopped",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="robotaudit",
            name="action",
            field=models.CharField(
                choices=[
                    ("create", "Create"),
                    ("update", "Update"),
                    ("start", "Start"),
                    ("stop", "Stop"),
                    ("stop_now", "Stop now"),
                    ("run_once", "Run once"),
                    ("heal", "Heal"),
                    ("delete", "Delete"),
                    ("pause", "Pause after failures"),
                    ("retry", "Retry failed records"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="robot",
            constraint=models.CheckConstraint(
                condition=models.Q(("state__in", ["stopped", "running", "paused"])), name="robot_state_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="robot",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_failed_cycles__lte", 1000)), name="robot_max_failed_cycles_range"
            ),
        ),
    ]
