"""Project-level bootstrap services: the admin account, then what the apps registered (e.g. the demo robot)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from asyncportal import env, registry


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


def bootstrap_steps_run(*, base_url: str) -> list[str]:
    """Run the apps' registered bootstrap steps (e.g. the demo robot) in order; return what each reports."""
    return [step.run(base_url=base_url) for step in registry.bootstrap_steps()]
