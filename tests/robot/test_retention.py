"""Robot retention: old payloads are cleared but their ids stay (no re-delivery), old finished cycles and old
audit entries go, the open cycle never does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from robot import services
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain
from tests.robot.support import HttpStub, Reply, deliver_queued, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def serve(stub: HttpStub, ids: list[int]) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": n, "email": f"user{n}@example.com"} for n in ids])


def run_cycle(robot: Robot) -> RobotCycle:
    """Run the robot's next cycle with the real cycle code and deliver its records in-process (no target)."""
    robot.refresh_from_db()
    token = robot.chain_token or services.robot_run_once(name=robot.name, actor=ACTOR).chain_token
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert cycle_id is not None
    deliver_queued(robot)
    return RobotCycle.objects.get(pk=cycle_id)


def age_records(days: int) -> None:
    ProcessedRecord.objects.update(finished_at=timezone.now() - timedelta(days=days))


def age_cycles(days: int) -> None:
    RobotCycle.objects.filter(finished_at__isnull=False).update(finished_at=timezone.now() - timedelta(days=days))


def test_prune_clears_old_payloads_and_a_refetched_old_record_is_still_a_duplicate(stub: HttpStub) -> None:
    serve(stub, [1, 2, 3])
    robot = make_robot(source_url=stub.url)
    first = run_cycle(robot)
    assert first.status == "finished" and first.done == 3
    age_records(8)
    age_cycles(91)

    pruned = services.robot_prune()

    assert (pruned["robot payloads"], pruned["robot cycles"]) == (3, 1)
    kept = [(r.source_id, r.status, r.payload, r.cycle_id) for r in ProcessedRecord.objects.order_by("source_id")]
    assert kept == [("1", "done", None, None), ("2", "done", None, None), ("3", "done", None, None)]
    again = run_cycle(robot)
    assert (again.fetched, again.duplicates, again.dispatched, again.status) == (3, 3, 0, "finished")
    assert ProcessedRecord.objects.count() == 3


def test_recent_and_undelivered_payloads_are_kept(stub: HttpStub) -> None:
    serve(stub, [1, 2, 3])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    age_records(6)
    ProcessedRecord.objects.filter(source_id="2").update(
        status=ProcessedRecord.Status.CANCELLED, finished_at=timezone.now() - timedelta(days=30)
    )
    ProcessedRecord.objects.filter(source_id="3").update(status=ProcessedRecord.Status.QUEUED, finished_at=None)

    assert services.robot_prune()["robot payloads"] == 0
    assert not ProcessedRecord.objects.filter(payload__isnull=True).exists()


def test_the_error_text_goes_with_the_payload(stub: HttpStub) -> None:
    serve(stub, [1])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    ProcessedRecord.objects.update(status="failed", error="HTTP 400: bad address user1@example.com")
    age_records(8)
    services.robot_prune()
    assert list(ProcessedRecord.objects.values_list("status", "error", "payload")) == [("failed", "", None)]


def test_prune_deletes_old_finished_cycles_and_never_the_open_one(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    long_ago = timezone.now() - timedelta(days=200)
    old = RobotCycle.objects.create(robot=robot, number=1, started_at=long_ago, finished_at=long_ago, status="finished")
    recent = RobotCycle.objects.create(
        robot=robot, number=2, started_at=long_ago, finished_at=timezone.now() - timedelta(days=89), status="failed"
    )
    open_ = RobotCycle.objects.create(robot=robot, number=3, started_at=long_ago)
    ProcessedRecord.objects.create(robot=robot, cycle=old, source_id="9", payload={}, status="done")

    assert services.robot_prune()["robot cycles"] == 1

    assert set(RobotCycle.objects.values_list("pk", flat=True)) == {recent.pk, open_.pk}
    assert ProcessedRecord.objects.get().cycle_id is None


def test_a_cycle_whose_records_lost_their_cycle_still_counts_and_settles(stub: HttpStub) -> None:
    serve(stub, [1, 2])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    age_cycles(91)
    services.robot_prune()
    serve(stub, [3])
    latest = run_cycle(robot)
    assert (latest.done, latest.status) == (1, "finished")
    assert chain.record_counts(latest.pk) == {"done": 1}
    assert ProcessedRecord.objects.filter(cycle__isnull=True).count() == 2


def test_cycle_numbers_go_on_after_every_old_cycle_was_pruned(stub: HttpStub) -> None:
    serve(stub, [1])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    run_cycle(robot)
    age_cycles(91)
    services.robot_prune()
    assert not RobotCycle.objects.exists()
    assert run_cycle(robot).number == 3


def test_the_admin_lists_records_whose_cycle_was_pruned(stub: HttpStub) -> None:
    serve(stub, [41])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    age_cycles(91)
    services.robot_prune()
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    page = client.get("/admin/robot/processedrecord/")
    assert page.status_code == 200 and "41" in page.content.decode()
    change = client.get(f"/admin/robot/robot/{robot.pk}/change/")
    assert change.status_code == 200


def test_prune_deletes_audit_entries_older_than_retention(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    services.robot_start(name=robot.name, actor=ACTOR)
    services.robot_stop(name=robot.name, actor=ACTOR)
    RobotAudit.objects.filter(action="start").update(created_at=timezone.now() - timedelta(days=366))
    assert services.robot_prune()["robot audit"] == 1
    assert list(RobotAudit.objects.values_list("action", flat=True)) == ["stop"]


def test_dry_run_counts_and_changes_nothing(stub: HttpStub) -> None:
    serve(stub, [1, 2])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    age_records(8)
    age_cycles(91)
    RobotAudit.objects.update(created_at=timezone.now() - timedelta(days=400))
    audits = RobotAudit.objects.count()

    counts = services.robot_prune(dry_run=True)

    assert counts == {"robot payloads": 2, "robot cycles": 1, "robot audit": audits}
    assert not ProcessedRecord.objects.filter(payload__isnull=True).exists()
    assert (RobotCycle.objects.count(), RobotAudit.objects.count()) == (1, audits)


@override_settings(ROBOT_PAYLOAD_RETENTION_DAYS=0, ROBOT_CYCLE_RETENTION_DAYS=0, ROBOT_AUDIT_RETENTION_DAYS=0)
def test_zero_days_keeps_everything_forever(stub: HttpStub) -> None:
    serve(stub, [1])
    robot = make_robot(source_url=stub.url)
    run_cycle(robot)
    age_records(5000)
    age_cycles(5000)
    RobotAudit.objects.update(created_at=timezone.now() - timedelta(days=5000))
    assert services.robot_prune() == {"robot payloads": 0, "robot cycles": 0, "robot audit": 0}
    assert ProcessedRecord.objects.get().payload == {"id": 1, "email": "user1@example.com"}
