"""System checks: a mistyped registration setting stops the process at boot with a stable id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from asyncportal import ratelimit
from registration.services import parse_demo_delay

# Seconds a lease keeps beyond the job's own worst case (mail timeout plus demo delay), for the database writes.
LEASE_MARGIN = 5


@register()
def check_settings(
    *, app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    try:
        _, delay = parse_demo_delay(settings.REGISTRATION_DEMO_DELAY)
    except ValueError:
        found.append(
            Error(
                f"REGISTRATION_DEMO_DELAY={settings.REGISTRATION_DEMO_DELAY!r} is not seconds or a range.",
                hint='Use "0" (no delay), a number like "3", or a range like "5-15".',
                id="registration.E001",
            )
        )
    else:
        found += _check_lease(delay)
    if settings.REGISTRATION_MAX_BODY_BYTES <= 0:
        found.append(Error("REGISTRATION_MAX_BODY_BYTES must be positive.", id="registration.E002"))
    return found + _check_rate_limit()


def _check_lease(delay: float) -> list[CheckMessage]:
    # A lease shorter than the job itself would let the sweeper hand a healthy job's registration to another.
    needed = (settings.EMAIL_TIMEOUT or 0) + delay + LEASE_MARGIN
    if needed <= settings.REGISTRATION_LEASE_SECONDS:
        return []
    message = f"REGISTRATION_LEASE_SECONDS={settings.REGISTRATION_LEASE_SECONDS} is shorter than a job may take."
    hint = f"Use at least {needed:g}: EMAIL_TIMEOUT + the longest REGISTRATION_DEMO_DELAY + {LEASE_MARGIN} s."
    return [Error(message, hint=hint, id="registration.E003")]


def _check_rate_limit() -> list[CheckMessage]:
    found: list[CheckMessage] = []
    try:
        ratelimit.parse_rate(settings.REGISTRATION_RATE_LIMIT)
    except ValueError as exc:
        hint = 'A count per second, minute or hour, like "20/m", "1/s" or "300/h"; "0" turns the limit off.'
        found.append(Error(f"REGISTRATION_RATE_LIMIT: {exc}.", hint=hint, id="registration.E004"))
    if settings.REGISTRATION_RATE_LIMIT_TIMEOUT <= 0:
        found.append(Error("REGISTRATION_RATE_LIMIT_TIMEOUT must be positive.", id="registration.E005"))
    return found
