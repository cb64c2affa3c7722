"""Invariants the code relies on are database constraints, not conventions."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from robot.models import FINAL, PENDING, ProcessedRecord, Robot, RobotCycle

pytestmark = pytest.mark.django_db


def robot() -> Robot:
    return Robot.objects.create(name="r1", source_url="http://s.example/")


def test_a_robot_cannot_have_two_unfinished_cycles() -> None:
    r = robot()
    RobotCycle.objects.create(robot=r, number=1, started_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        RobotCycle.objects.create(robot=r, number=2, started_at=timezone.now())
    RobotCycle.objects.filter(number=1).update(finished_at=timezone.now())
    RobotCycle.objects.create(robot=r, number=2, started_at=timezone.now())


def test_cycle_numbers_are_unique_per_robot() -> None:
    r = robot()
    RobotCycle.objects.create(robot=r, number=1, started_at=timezone.now(), finished_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        RobotCycle.objects.create(robot=r, number=1, started_at=timezone.now(), finished_at=timezone.now())


def test_a_source_id_is_stored_once_per_robot() -> None:
    r = robot()
    cycle = RobotCycle.objects.create(robot=r, number=1, started_at=timezone.now())
    ProcessedRecord.objects.create(robot=r, cycle=cycle, source_id="7", payload={})
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessedRecord.objects.create(robot=r, cycle=cycle, source_id="7", payload={})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 10_001),
        ("interval", 0),
        ("interval", 86_401),
        ("chunk_size", 0),
        ("chunk_size", 1001),
        ("max_failed_cycles", 1001),
        ("state", "halted"),
    ],
)
def test_ranges_are_enforced_by_the_database(field: str, value: object) -> None:
    r = robot()
    with pytest.raises(IntegrityError), transaction.atomic():
        Robot.objects.filter(pk=r.pk).update(**{field: value})


def test_a_new_record_is_queued_under_dispatch_one_without_a_lease() -> None:
    r = robot()
    cycle = RobotCycle.objects.create(robot=r, number=1, started_at=timezone.now())
    record = ProcessedRecord.objects.create(robot=r, cycle=cycle, source_id="7", payload={})
    record.refresh_from_db()
    assert (record.status, record.dispatch, record.lease_until, record.is_final) == ("queued", 1, None, False)


def test_every_record_status_is_either_pending_or_final() -> None:
    assert set(PENDING).isdisjoint(FINAL)
    assert {*PENDING, *FINAL} == set(ProcessedRecord.Status.values)


def test_the_three_states_are_valid_in_the_database() -> None:
    r = robot()
    for state in ("running", "paused", "stopped"):
        Robot.objects.filter(pk=r.pk).update(state=state)
    assert set(Robot.State.values) == {"stopped", "running", "paused"}
