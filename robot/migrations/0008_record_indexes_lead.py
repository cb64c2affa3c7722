"""Drop the single-column indexes of ProcessedRecord's foreign keys (see the model for why).

Django's own AlterField would also drop and re-add the foreign key constraints, which re-checks every record
row under a lock; dropping the two indexes by name is all the database needs.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "robot_processedrecord"
# Django's names for the two indexes (the same on SQLite and PostgreSQL).
INDEXES = {"robot_id": "robot_processedrecord_robot_id_55467ed8", "cycle_id": "robot_processedrecord_cycle_id_5b1cf2ce"}


class Migration(migrations.Migration):
    dependencies = [
        ("robot", "0007_clear_names"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="processedrecord",
                    name="cycle",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="records",
                        to="robot.robotcycle",
                    ),
                ),
                migrations.AlterField(
                    model_name="processedrecord",
                    name="robot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="processed_records",
                        to="robot.robot",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ("{column}")',
                )
                for column, name in INDEXES.items()
            ],
        ),
    ]
