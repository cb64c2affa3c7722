"""Admin actions and the change page's buttons call the services; edits never clobber worker state."""

from __future__ import annotations

from typing import Any

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


def test_change_page_shows_the_buttons_of_the_robots_state_and_read_only_status(
    admin_client_: Client, stub: HttpStub
) -> None:
    robot = make_robot(source_url=stub.url)
    page = admin_client_.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()
    for operation in ("start", "run-once"):
        assert f'action="{control_url(robot, operation)}"' in page
    for operation in ("stop", "stop-now"):
        assert f'action="{control_url(robot, operation)}"' not in page
    assert "csrfmiddlewaretoken" in page
    assert 'name="chain_token"' not in page and 'name="state"' not in page and 'name="total_done"' not in page


def test_a_button_posts_to_the_service_and_redirects_back(
    admin_client_: Client, stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=stub.url)
    response = admin_client_.post(control_url(robot, "start"), follow=True)
    robot.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("admin:robot_robot_change", args=[robot.pk])
    assert [str(m) for m in response.context["messages"]] == ["r1: started."]
    assert robot.state == "running" and chain_tokens(redis_conn, robot) == [robot.chain_token]


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


def test_the_form_names_the_batch_size_and_chain_token_with_their_api_names(
    admin_client_: Client, stub: HttpStub
) -> None:
    robot = make_robot(source_url=stub.url, batch_size=7)
    Robot.objects.filter(pk=robot.pk).update(chain_token="robot-1-shown")
    page = admin_client_.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()
    assert '<label class="required" for="id_batch_size">Batch size (records per cycle):</label>' in page
    assert 'name="batch_size" value="7"' in page and 'name="records"' not in page
    assert "Chain token (job_id):</label>" in page and "robot-1-shown" in page


def test_saving_the_form_changes_settings_but_never_state_token_or_totals(
    admin_client_: Client, stub: HttpStub
) -> None:
    robot = make_robot(source_url=stub.url)
    Robot.objects.filter(pk=robot.pk).update(state="running", chain_token="robot-1-live", total_done=9)
    form = {"msg": "edited", "source_url": stub.url, "batch_size": 8, "chunk_size": 4, "interval": 3, "target_url": ""}
    response = admin_client_.post(
        reverse("admin:robot_robot_change", args=[robot.pk]), {**form, "max_failed_cycles": 0}
    )
    robot.refresh_from_db()
    assert response.status_code == 302
    assert (robot.msg, robot.batch_size, robot.chunk_size, robot.interval) == ("edited", 8, 4, 3)
    assert robot.max_failed_cycles == 0
    assert (robot.state, robot.chain_token, robot.total_done) == ("running", "robot-1-live", 9)
    assert RobotAudit.objects.get().action == "update"


def test_adding_a_robot_creates_it_stopped_and_audited(admin_client_: Client, stub: HttpStub) -> None:
    form = {
        "name": "fresh",
        "msg": "",
        "source_url": stub.url,
        "batch_size": 20,
        "chunk_size": 10,
        "interval": 15,
        "target_url": "",
        "max_failed_cycles": 5,
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


def robot_form(**values: Any) -> dict[str, Any]:
    form = {"name": "keyed", "msg": "", "batch_size": 20, "chunk_size": 10, "interval": 15, "target_url": ""}
    return {**form, "source_secret": "", "target_secret": "", "max_failed_cycles": 5, **values}


def test_the_admin_refuses_url_credentials_and_never_echoes_them(admin_client_: Client) -> None:
    form = robot_form(source_url="https://feeder:hunter2@feed.example/", target_url="https://t:hunter2@t.example/")
    response = admin_client_.post(reverse("admin:robot_robot_add"), form)
    page = response.content.decode()
    assert response.status_code == 200 and "name it in source_secret / target_secret" in page
    assert "hunter2" not in page and "https://***@feed.example/" in page
    assert not Robot.objects.exists() and not RobotAudit.objects.exists()


def test_the_admin_names_secrets_and_shows_whether_they_are_set_never_their_values(
    admin_client_: Client, stub: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_FEED", "Bearer value-of-the-secret")
    form = robot_form(source_url=stub.url, source_secret="ROBOT_SECRET_FEED", target_secret="ROBOT_SECRET_SINK")
    assert admin_client_.post(reverse("admin:robot_robot_add"), form).status_code == 302
    robot = Robot.objects.get(name="keyed")
    page = admin_client_.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()
    audits = admin_client_.get("/admin/robot/robotaudit/").content.decode()
    assert "source: ROBOT_SECRET_FEED (set); target: ROBOT_SECRET_SINK (NOT SET)" in page
    assert "value-of-the-secret" not in page + audits
    assert (robot.source_secret, robot.target_secret) == ("ROBOT_SECRET_FEED", "ROBOT_SECRET_SINK")


def test_the_admin_refuses_a_secret_name_outside_the_prefix(admin_client_: Client, stub: HttpStub) -> None:
    response = admin_client_.post(
        reverse("admin:robot_robot_add"), robot_form(source_url=stub.url, source_secret="SECRET_KEY")
    )
    assert response.status_code == 200 and "ROBOT_SECRET_" in response.content.decode()
    assert not Robot.objects.exists()


def test_the_change_page_never_shows_credentials_stored_before_they_were_refused(admin_client_: Client) -> None:
    robot = Robot.objects.create(name="old", source_url="https://feeder:hunter2@feed.example/")
    page = admin_client_.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()
    assert "hunter2" not in page and "https://***@feed.example/" in page
