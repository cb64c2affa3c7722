"""Project-level bootstrap services (admin account, demo robot)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from asyncportal import env


@dataclass(frozen=True)
class AdminAccount:
    username: str
    password: str  # Empty when the account already existed or the password came from the environment.


@transaction.atomic
def admin_ensure() -> AdminAccount:
    """Create the superuser from ``DJANGO_SUPERUSER_*``, else ``admin`` with a random password, once."""
    user_model = get_user_model()
    username = env.str_("DJANGO_SUPERUSER_USERNAME", "admin")
    if user_model.objects.filter(username=username).exists():
        return AdminAccount(username=username, password="")
    given = env.str_("DJANGO_SUPERUSER_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    user_model.objects.create_superuser(
        username=username, email=env.str_("DJANGO_SUPERUSER_EMAIL", "admin@localhost"), password=password
    )
    return AdminAccount(username=username, password="" if given else password)


def demo_robot_ensure(*, base_url: str) -> str | None:
    """Create the demo robot (stopped) reading the built-in demo feed; return its name, None without the feed."""
    from robot.services import robot_ensure_demo

    if not settings.ROBOT_DEMO_FEED:
        return None
    return robot_ensure_demo(source_url=f"{base_url.rstrip('/')}/api/demo/todos/")
