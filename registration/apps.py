from __future__ import annotations

from django.apps import AppConfig


class RegistrationConfig(AppConfig):
    name = "registration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from registration import checks  # noqa: F401 - registers the system checks.
