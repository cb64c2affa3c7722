from __future__ import annotations

from django.apps import AppConfig


class RobotConfig(AppConfig):
    name = "robot"
    default_auto_field = "django.db.models.BigAutoField"
