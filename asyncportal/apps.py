from __future__ import annotations

from django.apps import AppConfig


class AsyncportalConfig(AppConfig):
    name = "asyncportal"
    verbose_name = "asyncportal"
