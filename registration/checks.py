"""System checks: a mistyped registration setting stops the process at boot with a stable id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from registration.services import parse_demo_delay


@register()
def check_settings(
    *, app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    try:
        parse_demo_delay(settings.REGISTRATION_DEMO_DELAY)
    except ValueError:
        found.append(
            Error(
                f"REGISTRATION_DEMO_DELAY={settings.REGISTRATION_DEMO_DELAY!r} is not seconds or a range.",
                hint='Use "0" (no delay), a number like "3", or a range like "5-15".',
                id="registration.E001",
            )
        )
    if settings.REGISTRATION_MAX_BODY_BYTES <= 0:
        found.append(Error("REGISTRATION_MAX_BODY_BYTES must be positive.", id="registration.E002"))
    return found
