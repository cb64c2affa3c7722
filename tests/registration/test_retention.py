"""Registration retention: finished registrations (with their personal data) go after the period; none in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from registration.models import Registration, Status
from registration.retention import registration_prune
from tests.registration.factories import make_registration

pytestmark = pytest.mark.django_db


def aged(status: str, days: int) -> Registration:
    registration = make_registration(status=status, login=f"{status}{days}", email=f"{status}{days}@example.com")
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(days=days))
    return registration


def test_prune_deletes_old_finished_registrations_and_keeps_recent_ones() -> None:
    old = [aged(Status.DONE, 31), aged(Status.FAILED, 31), aged(Status.REJECTED, 31)]
    recent = aged(Status.DONE, 29)
    assert registration_prune() == {"registrations": 3, "idempotency keys": 0}
    assert list(Registration.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Registration.objects.filter(pk__in=[r.pk for r in old]).exists()


def test_prune_never_deletes_a_registration_in_flight() -> None:
    in_flight = {aged(status, 400).pk for status in (Status.PENDING, Status.QUEUED, Status.PROCESSING)}
    assert registration_prune() == {"registrations": 0, "idempotency keys": 0}
    assert set(Registration.objects.values_list("pk", flat=True)) == in_flight


def test_dry_run_counts_and_deletes_nothing() -> None:
    aged(Status.REJECTED, 31)
    assert registration_prune(dry_run=True) == {"registrations": 1, "idempotency keys": 0}
    assert Registration.objects.count() == 1


@override_settings(REGISTRATION_RETENTION_DAYS=0)
def test_zero_days_keeps_registrations_forever() -> None:
    aged(Status.DONE, 5000)
    assert registration_prune() == {"registrations": 0, "idempotency keys": 0}
    assert Registration.objects.count() == 1
