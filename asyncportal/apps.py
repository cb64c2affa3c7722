from __future__ import annotations

from django.apps import AppConfig


class AsyncportalConfig(AppConfig):
    name = "asyncportal"
    verbose_name = "asyncportal"

    def ready(self) -> None:
        from asyncportal import checks  # noqa: F401 - registers the system checks.
