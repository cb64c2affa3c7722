from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class RobotConfig(AppConfig):
    name = "robot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from asyncportal import registry
        from robot import checks  # noqa: F401 - registers the system checks.
        from robot.clients import warm_up
        from robot.services import robot_bootstrap_demo, robot_heal_all, robot_prune, robot_tick

        warm_up()
        # Registration's sweep step (100) re-enqueues first; robot chains are healed after it.
        registry.register_sweep_step("robot_heal_all", robot_heal_all, order=200)
        registry.register_prune_step("robot_prune", robot_prune, order=100)
        registry.register_ticker("robot", robot_tick, interval=lambda: float(settings.ROBOT_TICK_SECONDS))
        registry.register_bootstrap_step("robot_bootstrap_demo", robot_bootstrap_demo, order=100)
