"""Keep history: a robot's records and cycles protect it from deletion, a pruned cycle leaves its records (the
de-duplication state) in place, payloads may be cleared by retention, and the audit outlives its robot."""

import django.db.models.deletion
from django.db import migrations, models


def audit_robot_names(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Existing audit rows keep their robot's name, which survives the robot."""
    audit = apps.get_model("robot", "RobotAudit")
    robot = apps.get_model("robot", "Robot")
    for pk, name in robot.objects.values_list("pk", "name").iterator():
        audit.objects.filter(robot_id=pk).update(robot_name=name)


class Migration(migrations.Migration):
    dependencies = [("robot", "0002_fenced_records")]

    operations = [
        migrations.AddField(
            model_name="robotaudit",
            name="robot_name",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(audit_robot_names, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="processedrecord",
            name="cycle",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="records",
                to="robot.robotcycle",
            ),
        ),
        migrations.AlterField(
            model_name="processedrecord",
            name="payload",
            field=models.JSONField(
                help_text="Cleared (NULL) once the record is done or failed and older than retention.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="processedrecord",
            name="robot",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="processed_records", to="robot.robot"
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
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="robotaudit",
            name="robot",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="audits",
                to="robot.robot",
            ),
        ),
        migrations.AlterField(
            model_name="robotcycle",
            name="robot",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="cycles", to="robot.robot"
            ),
        ),
        migrations.AddIndex(
            model_name="processedrecord",
            index=models.Index(
                condition=models.Q(("payload__isnull", False)),
                fields=["finished_at"],
                name="processedrecord_payload_kept",
            ),
        ),
        migrations.AddIndex(
            model_name="robotaudit",
            index=models.Index(fields=["created_at"], name="robotaudit_created_at"),
        ),
    ]
