"""Retrying a cycle's failed records: once more, same Idempotency-Key, in a cycle of their own."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings

from robot import services
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import HttpStub, IdempotentTarget, Reply, chain_tokens, cycles, make_robot

ACTOR = services.Actor(source="api", label="tester")
TOKEN = "t" * 40
BEARER: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
pytestmark = [pytest.mark.django_db(transaction=True)]


def retry(name: str = "r1", number: int = 1) -> tuple[int, dict[str, Any]]:
    with override_settings(ROBOT_API_TOKEN=TOKEN):
        response = Client().post(f"/api/robots/{name}/cycles/{number}/retry/", "", "application/json", **BEARER)
    return response.status_code, response.json()


def deliver(robot: Robot) -> None:
    pairs = ProcessedRecord.objects.filter(robot=robot, status="queued").values_list("pk", "dispatch")
    services.records_process(pairs=list(pairs))


def one_cycle_with_failures(stub: HttpStub, target: HttpStub, script: IdempotentTarget, **values: Any) -> Robot:
    """Run cycle 1 of a started robot in process: records 1 and 3 of 1–4 fail (HTTP 400)."""
    target.handler = script
    stub.handler = lambda seen: Reply(body=[{"id": n} for n in (1, 2, 3, 4)])
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=4, chunk_size=2, **values)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    deliver(robot)
    assert [(c.status, c.done, c.failed) for c in cycles(robot)] == [("finished", 2, 2)]
    return robot


def test_retry_re_delivers_exactly_the_failed_records_with_the_same_idempotency_key(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker
) -> None:
    script = IdempotentTarget({"r1:1": [400, 200], "r1:3": [400, 200]})
    robot = one_cycle_with_failures(stub, target, script, interval=3600)
    services.robot_stop(name="r1", actor=ACTOR)
    failed = dict(ProcessedRecord.objects.filter(status="failed").values_list("source_id", "dispatch"))
    start_worker("records", pool=1)
    status, body = retry()
    assert (status, body) == (202, {"ok": True, "retry_of": 1, "cycle": 2, "requeued": 2})
    wait_for(lambda: RobotCycle.objects.filter(robot=robot, number=2, finished_at__isnull=False).exists(), timeout=60)
    posts = [seen.headers["idempotency-key"] for seen in target.requests("POST")]
    assert sorted(posts[4:]) == ["r1:1", "r1:3"]  # only the failed ones, under the keys they had
    assert script.calls == {"r1:1": 2, "r1:2": 1, "r1:3": 2, "r1:4": 1}
    first, second = cycles(robot)
    assert (first.done, first.failed) == (2, 2)  # the history of cycle 1 stays as it was
    assert (second.status, second.retry_of, second.fetched, second.dispatched, second.done, second.failed) == (
        "finished",
        1,
        0,
        2,
        2,
        0,
    )
    records = ProcessedRecord.objects.filter(source_id__in=["1", "3"])
    assert {(r.status, r.cycle_id, r.dispatch) for r in records} == {("done", second.pk, failed["1"] + 1)}
    robot.refresh_from_db()
    assert (robot.total_done, robot.total_failed, robot.cycles_completed, robot.state) == (4, 0, 2, "stopped")
    audit = RobotAudit.objects.get(action="retry")
    assert (audit.actor_label, audit.detail) == ("api-token", "cycle 1: 2 failed records in cycle 2")


def test_a_retried_record_that_fails_again_stays_failed_in_the_retry_cycle(stub: HttpStub, target: HttpStub) -> None:
    script = IdempotentTarget({"r1:1": [400, 422], "r1:3": [400, 200]})
    robot = one_cycle_with_failures(stub, target, script)
    services.robot_stop(name="r1", actor=ACTOR)
    assert retry()[0] == 202
    deliver(robot)
    retry_cycle = RobotCycle.objects.get(number=2)
    assert (retry_cycle.status, retry_cycle.done, retry_cycle.failed) == ("finished", 1, 1)
    again = ProcessedRecord.objects.get(source_id="1")
    assert (again.status, again.attempts, again.cycle_id) == ("failed", 1, retry_cycle.pk)  # attempts count afresh
    assert script.calls["r1:1"] == 2 and Robot.objects.get(pk=robot.pk).total_failed == 1
    assert retry(number=1) == (200, {"ok": True, "retry_of": 1, "cycle": None, "requeued": 0})
    assert retry(number=2)[1]["requeued"] == 1  # the retry cycle now holds the record that failed again


def test_retry_is_refused_while_a_cycle_is_unfinished(stub: HttpStub, target: HttpStub) -> None:
    robot = one_cycle_with_failures(stub, target, IdempotentTarget({"r1:1": [400], "r1:3": [400]}))
    robot.refresh_from_db()
    stub.handler = lambda seen: Reply(body=[{"id": 5}])
    services.cycle_run(robot_id=robot.pk, token=robot.chain_token)  # cycle 2: its record is queued, not delivered
    status, body = retry()
    assert (status, body["error"]["code"]) == (409, "cycle_in_progress")
    assert ProcessedRecord.objects.filter(status="failed", cycle__number=1).count() == 2
    assert not RobotAudit.objects.filter(action="retry").exists()


def test_a_second_retry_waits_for_the_first_to_finish(stub: HttpStub, target: HttpStub) -> None:
    robot = one_cycle_with_failures(stub, target, IdempotentTarget({"r1:1": [400], "r1:3": [400]}))
    services.robot_stop(name="r1", actor=ACTOR)
    assert retry()[0] == 202
    assert retry()[0] == 409
    with pytest.raises(RobotError):  # run-once is refused too: one unfinished cycle per robot
        services.robot_run_once(name="r1", actor=ACTOR)
    deliver(robot)
    assert RobotCycle.objects.get(number=2).finished_at is not None


def test_retry_answers_404_for_an_unknown_robot_or_cycle(stub: HttpStub) -> None:
    make_robot(source_url=stub.url)
    assert retry(name="ghost")[0] == 404
    status, body = retry(number=7)
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert retry(number=10**20)[0] == 404
    assert not RobotCycle.objects.exists()


def test_a_retry_of_a_running_robot_carries_its_chain_on(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = one_cycle_with_failures(stub, target, IdempotentTarget({"r1:1": [400], "r1:3": [400]}), interval=3600)
    assert retry()[0] == 202
    deliver(robot)
    robot.refresh_from_db()
    retry_cycle = RobotCycle.objects.get(number=2)
    assert retry_cycle.finished_at is not None and robot.state == "running"
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]  # one chain, due an interval after the retry
    assert robot.next_run_at is not None and (robot.next_run_at - retry_cycle.finished_at).total_seconds() == 3600
    assert robot.failed_cycles_in_a_row == 0


def test_the_admin_action_retries_the_selected_cycles(stub: HttpStub, target: HttpStub) -> None:
    one_cycle_with_failures(stub, target, IdempotentTarget({"r1:1": [400], "r1:3": [400]}))
    services.robot_stop(name="r1", actor=ACTOR)
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    first = RobotCycle.objects.get(number=1)
    response = client.post(
        "/admin/robot/robotcycle/",
        {"action": "retry_failed_records", "_selected_action": [first.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [f"{first}: 2 failed records re-queued in cycle 2."]
    assert RobotAudit.objects.get(action="retry").source == "admin"


def test_the_admin_action_needs_the_robot_change_permission(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=robot.created_at, finished_at=robot.created_at)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*_perms("view_robotcycle"))
    client = Client()
    client.force_login(viewer)
    response = client.post(
        "/admin/robot/robotcycle/", {"action": "retry_failed_records", "_selected_action": [cycle.pk]}
    )
    # The action is not offered to this user: the change list is shown again (200), nothing ran.
    assert response.status_code == 200
    assert not RobotAudit.objects.exists() and RobotCycle.objects.count() == 1


def _perms(*codenames: str) -> list[Permission]:
    return list(Permission.objects.filter(codename__in=codenames))
