"""System checks for the project-wide settings: a mistake stops the process at boot with a stable id."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from asyncportal import clientip


@register()
def check_trusted_proxies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that every ``TRUSTED_PROXIES`` entry is an IP address or a CIDR network."""
    try:
        clientip.networks(tuple(settings.TRUSTED_PROXIES))
    except ValueError as exc:
        hint = "Comma-separated addresses or networks, e.g. 10.0.0.0/8,192.0.2.7."
        return [Error(f"TRUSTED_PROXIES: {exc}.", hint=hint, id="asyncportal.E001")]
    return []
