from __future__ import annotations

from django.apps import AppConfig


class RobotConfig(AppConfig):
    name = "robot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from robot import checks  # noqa: F401 - registers the system checks.
        from robot.clients import warm_up

        warm_up()
