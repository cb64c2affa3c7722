"""Admin actions and the change page's buttons call the services; edits never clobber worker state."""

from __future__ import annotations

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from robot.models import Robot, RobotAudit, RobotCycle
from tests.robot.support import HttpStub, chain_tokens, make_robot

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/robot/robot/"


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    return client


def action(client: Client, name: str, robots: list[Robot]) -> list[str]:
    response = client.post(CHANGELIST, {"action": name, "_selected_action": [r.pk for r in robots]}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def control_url(robot: Robot, operation: str) -> str:
    return reverse("admin:robot_robot_control", args=[robot.pk, operation])


def test_start_and_stop_actions_drive_every_selected_robot(
    admin_client_: Client, stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robots = [make_robot("a", source_url=stub.url), make_robot("b", source_url=stub.url)]
    started = action(admin_client_, "start_robots", robots)
    assert started == ["a: started.", "b: started."]
    assert set(Robot.objects.values_list("state", flat=True)) == {"running"}
    assert action(admin_client_, "start_robots", robots[:1]) == ["a: Robot a is already running."]
    assert action(admin_client_, "stop_robots", robots) == ["a: stopped.", "b: stopped."]
    assert set(Robot.objects.values_list("state", flat=True)) == {"stopped"}
    assert all(chain_tokens(redis_conn, robot) == [] for robot in robots)
    audit = RobotAudit.objects.filter(action="start").first()
    assert audit is not None and (audit.source, audit.actor_label, audit.remote_addr) == ("admin", "boss", "127.0.0.1")


def test_stop_now_and_run_once_actions(admin_client_: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    assert action(admin_client_, "run_robots_once", [robot]) == ["r1: running one cycle."]
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    refused = action(admin_client_, "run_robots_once", [robot])
    assert refused == ["r1: Cycle 1 of robot r1 is in progress."]
    assert action(admin_client_, "stop_robots_now", [robot]) == ["r1: stopped now."]
    assert RobotCycle.objects.get().status == "cancelled"


def test_change_page_shows_buttons_and_read_only_status(admin_client_: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    page = admin_client_.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()
    for operation in ("start", "stop", "stop-now", "run-once"):
        assert f'action="{control_url(robot, operation)}"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'name="job_id"' not in page and 'name="state"' not in page and 'name="total_done"' not in page


def test_a_button_posts_to_the_service_and_redirects_back(
    admin_client_: Client, stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=stub.url)
    response = admin_client_.post(control_url(robot, "start"), follow=True)
    robot.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("admin:robot_robot_change", args=[robot.pk])
    assert [str(m) for m in response.context["messages"]] == ["r1: started."]
    assert robot.state == "running" and chain_tokens(redis_conn, robot) == [robot.job_id]


def test_buttons_need_post_and_the_change_permission(admin_client_: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    assert admin_client_.get(control_url(robot, "start")).status_code == 405
    assert admin_client_.post(control_url(robot, "explode")).status_code == 404
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_robot"))
    client = Client()
    client.force_login(viewer)
    assert client.post(control_url(robot, "start")).status_code == 403
    anonymous = Client().post(control_url(robot, "start"))
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert Robot.objects.get(pk=robot.pk).state == "stopped"


@pytest.mark.parametrize("name", ["start_robots", "stop_robots", "stop_robots_now", "run_robots_once"])
def test_actions_need_the_change_permission(stub: HttpStub, name: str) -> None:
    robot = make_robot(source_url=stub.url)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_robot"))
    client = Client()
    client.force_login(viewer)
    assert action(client, name, [robot]) == []  # The action is not offered, so nothing runs.
    assert Robot.objects.get(pk=robot.pk).state == "stopped"
    assert not RobotAudit.objects.exists()


def test_saving_the_form_changes_settings_but_never_state_token_or_totals(
    admin_client_: Client, stub: HttpStub
) -> None:
    robot = make_robot(source_url=stub.url)
    Robot.objects.filter(pk=robot.pk).update(state="running", job_id="robot-1-live", total_done=9)
    form = {"msg": "edited", "source_url": stub.url, "records": 8, "chunk_size": 4, "interval": 3, "target_url": ""}
    response = admin_client_.post(reverse("admin:robot_robot_change", args=[robot.pk]), form)
    robot.refresh_from_db()
    assert response.status_code == 302
    assert (robot.msg, robot.records, robot.chunk_size, robot.interval) == ("edited", 8, 4, 3)
    assert (robot.state, robot.job_id, robot.total_done) == ("running", "robot-1-live", 9)
    assert RobotAudit.objects.get().action == "update"


def test_adding_a_robot_creates_it_stopped_and_audited(admin_client_: Client, stub: HttpStub) -> None:
    form = {
        "name": "fresh",
        "msg": "",
        "source_url": stub.url,
        "records": 20,
        "chunk_size": 10,
        "interval": 15,
        "target_url": "",
    }
    response = admin_client_.post(reverse("admin:robot_robot_add"), form)
    assert response.status_code == 302
    robot = Robot.objects.get(name="fresh")
    assert (robot.state, robot.chunk_size) == ("stopped", 10)
    assert RobotAudit.objects.get().action == "create"


def test_history_admins_are_read_only_lists(admin_client_: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    for model in ("robotcycle", "processedrecord", "robotaudit"):
        assert admin_client_.get(f"/admin/robot/{model}/").status_code == 200
        assert admin_client_.get(f"/admin/robot/{model}/add/").status_code == 403
