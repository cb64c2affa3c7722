from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def check_ids() -> list[str]:
    return [message.id for message in run_checks() if message.id and message.id.startswith("registration.")]


def test_default_settings_pass_the_checks() -> None:
    assert check_ids() == []


@pytest.mark.parametrize("delay", ["soon", "15-5", "-1"])
def test_a_malformed_demo_delay_is_error_e001(delay: str) -> None:
    with override_settings(REGISTRATION_DEMO_DELAY=delay):
        assert check_ids() == ["registration.E001"]


def test_a_body_limit_that_is_not_positive_is_error_e002() -> None:
    with override_settings(REGISTRATION_MAX_BODY_BYTES=0):
        assert check_ids() == ["registration.E002"]


def test_a_lease_shorter_than_mail_timeout_plus_demo_delay_is_error_e003() -> None:
    with override_settings(REGISTRATION_LEASE_SECONDS=20, EMAIL_TIMEOUT=10, REGISTRATION_DEMO_DELAY="5-15"):
        assert check_ids() == ["registration.E003"]


def test_the_default_lease_covers_the_original_demo_delay() -> None:
    with override_settings(REGISTRATION_DEMO_DELAY="5-15"):
        assert check_ids() == []


@pytest.mark.parametrize("rate", ["20", "20/d", "0/m", "fast"])
def test_a_malformed_rate_limit_is_error_e004(rate: str) -> None:
    with override_settings(REGISTRATION_RATE_LIMIT=rate):
        assert check_ids() == ["registration.E004"]


@pytest.mark.parametrize("rate", ["0", "1/s", "300/h"])
def test_a_rate_limit_that_is_off_or_per_second_or_hour_passes(rate: str) -> None:
    with override_settings(REGISTRATION_RATE_LIMIT=rate):
        assert check_ids() == []


def test_a_rate_limit_timeout_that_is_not_positive_is_error_e005() -> None:
    with override_settings(REGISTRATION_RATE_LIMIT_TIMEOUT=0):
        assert check_ids() == ["registration.E005"]
