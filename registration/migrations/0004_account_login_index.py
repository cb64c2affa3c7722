"""An index on UPPER(username) of the user table, so "is this login taken?" does not scan every account.

Every submission (``selectors.taken``) and every registration job (``services._attach_user``) compares logins
with ``UPPER(username) = UPPER(%s)``; Django's unique index on ``username`` cannot answer that, so both read the
whole user table, which grows by one row per registration. On PostgreSQL the index is built CONCURRENTLY (writes
to the user table go on meanwhile), hence a non-atomic migration.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import migrations

INDEX = "registration_account_login_upper"


def _table_and_column(apps: Any) -> tuple[str, str]:
    # Historical models lack USERNAME_FIELD; the name comes from the current model, the column from history.
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    field = user_model._meta.get_field(get_user_model().USERNAME_FIELD)
    return user_model._meta.db_table, field.column


def create(apps: Any, schema_editor: Any) -> None:
    quote = schema_editor.quote_name
    table, column = _table_and_column(apps)
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {quote(INDEX)} ON {quote(table)} (UPPER({quote(column)}))"
    )


def drop(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(INDEX)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("registration", "0003_idempotency_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
