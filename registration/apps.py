from __future__ import annotations

from django.apps import AppConfig


class RegistrationConfig(AppConfig):
    name = "registration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from asyncportal import registry
        from registration import checks  # noqa: F401 - registers the system checks.
        from registration.retention import registration_prune
        from registration.services import registration_enqueue_stale

        registry.register_sweep_step("registration_enqueue_stale", registration_enqueue_stale, order=100)
        registry.register_prune_step("registration_prune", registration_prune, order=200)
