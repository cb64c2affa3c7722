"""History in the admin is append-only: no add, change or delete of audit, cycles or records; a robot with
history (or running) cannot be deleted, one without can, and its audit outlives it."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from robot import errors, services
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from tests.robot.support import HttpStub

pytestmark = pytest.mark.django_db(transaction=True)
ADMIN = services.Actor(source="admin", label="boss")
HISTORY = ("robotaudit", "robotcycle", "processedrecord")


@pytest.fixture
def robot(stub: HttpStub) -> Robot:
    robot, _ = services.robot_save(name="r1", values={"source_url": stub.url}, actor=ADMIN)
    return robot


def with_history(robot: Robot) -> None:
    now = timezone.now()
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=now, finished_at=now, status="finished")
    ProcessedRecord.objects.create(robot=robot, cycle=cycle, source_id="1", payload={"id": 1}, status="done")


def history_row(robot: Robot, model: str) -> int:
    with_history(robot)
    found = {"robotaudit": RobotAudit, "robotcycle": RobotCycle, "processedrecord": ProcessedRecord}[model]
    return int(found._default_manager.values_list("pk", flat=True)[0])


def action_names(client: Client, url: str) -> list[str]:
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["action_form"]
    return [name for name, _ in form.fields["action"].choices] if form else []


def messages_of(response: object) -> list[str]:
    return [str(message) for message in response.context["messages"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", HISTORY)
def test_the_admin_refuses_to_delete_a_history_row(boss: Client, robot: Robot, model: str) -> None:
    pk = history_row(robot, model)
    url = f"/admin/robot/{model}/{pk}/delete/"
    assert boss.get(url).status_code == 403
    assert boss.post(url, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in action_names(boss, f"/admin/robot/{model}/")
    boss.post(f"/admin/robot/{model}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    assert (RobotAudit.objects.count(), RobotCycle.objects.count(), ProcessedRecord.objects.count()) == (1, 1, 1)


@pytest.mark.parametrize("model", HISTORY)
def test_the_admin_cannot_add_or_change_a_history_row(boss: Client, robot: Robot, model: str) -> None:
    pk = history_row(robot, model)
    assert boss.get(f"/admin/robot/{model}/add/").status_code == 403
    assert boss.post(f"/admin/robot/{model}/{pk}/change/", {"detail": "rewritten"}).status_code == 403
    assert not RobotAudit.objects.filter(detail="rewritten").exists()


def test_deleting_a_robot_with_history_is_refused_and_keeps_everything(boss: Client, robot: Robot) -> None:
    with_history(robot)
    url = reverse("admin:robot_robot_delete", args=[robot.pk])
    for response in (boss.get(url, follow=True), boss.post(url, {"post": "yes"}, follow=True)):
        assert response.redirect_chain[-1][0] == reverse("admin:robot_robot_change", args=[robot.pk])
        assert messages_of(response) == [
            "Robot r1 has 1 processed records and 1 cycles; stop it instead - history is kept for de-duplication."
        ]
    assert Robot.objects.filter(pk=robot.pk).exists()
    assert (RobotAudit.objects.count(), RobotCycle.objects.count(), ProcessedRecord.objects.count()) == (1, 1, 1)


def test_a_running_robot_cannot_be_deleted(boss: Client, robot: Robot) -> None:
    services.robot_start(name="r1", actor=ADMIN)
    response = boss.post(reverse("admin:robot_robot_delete", args=[robot.pk]), {"post": "yes"}, follow=True)
    assert messages_of(response) == ["Robot r1 is running; stop it first."]
    assert Robot.objects.get(pk=robot.pk).is_running


def test_a_robot_without_history_can_be_deleted_and_its_audit_outlives_it(boss: Client, robot: Robot) -> None:
    url = reverse("admin:robot_robot_delete", args=[robot.pk])
    assert boss.get(url).status_code == 200
    response = boss.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Robot.objects.exists()
    audit = [(a.robot_id, a.robot_name, a.action, a.actor_label) for a in RobotAudit.objects.order_by("id")]
    assert audit == [(None, "r1", "create", "boss"), (None, "r1", "delete", "boss")]


def test_the_robot_changelist_has_no_bulk_delete(boss: Client, robot: Robot) -> None:
    assert "delete_selected" not in action_names(boss, "/admin/robot/robot/")
    assert "start_robots" in action_names(boss, "/admin/robot/robot/")


def test_the_service_refuses_a_robot_with_history_and_the_orm_protects_it(robot: Robot) -> None:
    with_history(robot)
    with pytest.raises(RobotError) as refused:
        services.robot_delete(name="r1", actor=ADMIN)
    assert refused.value.code == errors.HAS_HISTORY
    with pytest.raises(ProtectedError):
        Robot.objects.get(pk=robot.pk).delete()
    assert not RobotAudit.objects.filter(action="delete").exists()


def test_the_api_has_no_delete(boss: Client, robot: Robot) -> None:
    assert boss.delete("/api/robots/r1/").status_code == 405
    assert Robot.objects.filter(name="r1").exists()
