from __future__ import annotations

from django.apps import AppConfig


class AsyncportalConfig(AppConfig):
    name = "asyncportal"
    verbose_name = "asyncportal"

    def ready(self) -> None:
        from asyncportal import checks  # noqa: F401 - registers the system checks.
        from asyncportal.queues import failed_jobs_prune
        from asyncportal.registry import register_prune_step, register_sweep_step
        from asyncportal.sweeper import prune_when_due

        # Core's own steps run after the apps' (order 900): prune what the apps' steps may have just failed.
        register_sweep_step("prune_when_due", prune_when_due, order=900)
        register_prune_step("failed_jobs_prune", failed_jobs_prune, order=900)
