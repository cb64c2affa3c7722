"""Pause on failure: consecutive failed cycles end the chain in a visible third state; only a start resumes."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import redis
from django.test import Client, override_settings

from robot import services
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import heal
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    Reply,
    StartSweeper,
    chain_tokens,
    cycles,
    make_robot,
)

ACTOR = services.Actor(source="api", label="tester")
TOKEN = "t" * 40
BEARER: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.django_db(transaction=True)


def closed_port_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def run_cycles(robot: Robot, count: int) -> None:
    """Run ``count`` cycles in process, each with the robot's current chain token (as the ticker would)."""
    for _ in range(count):
        robot.refresh_from_db()
        assert robot.chain_token, "the chain ended"
        services.cycle_run(robot_id=robot.pk, token=robot.chain_token)
        pairs = ProcessedRecord.objects.filter(robot=robot, status="queued").values_list("pk", "dispatch")
        if pairs:
            services.records_process(pairs=list(pairs))


def test_a_robot_whose_source_fails_pauses_after_max_failed_cycles_and_resumes_on_start(
    stub: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper, redis_conn: redis.Redis
) -> None:
    stub.handler = lambda seen: Reply(status=500, body={"error": "down"})
    robot = make_robot(source_url=stub.url, interval=1, max_failed_cycles=2)
    start_sweeper()
    start_worker("robot")
    start_worker("records", pool=1)
    services.robot_start(name="r1", actor=ACTOR)
    wait_for(lambda: Robot.objects.get(pk=robot.pk).state == "paused", timeout=60, message="the pause")
    robot.refresh_from_db()
    assert [(c.status, c.error_code) for c in cycles(robot)] == [("failed", "fetch_http_status")] * 2
    reason = "paused after 2 consecutive failed cycles; last: fetch_http_status"
    assert (robot.paused_reason, robot.failed_cycles_in_a_row, robot.chain_token) == (reason, 2, "")
    assert robot.paused_at is not None and robot.next_run_at is None
    pause = RobotAudit.objects.get(action="pause")
    assert (pause.source, pause.actor_label, pause.detail) == ("system", "system", reason)
    assert chain_tokens(redis_conn, robot) == []  # no next cycle is due, queued or running
    assert heal.robot_heal_all() == 0  # the sweeper's repair does not resurrect a paused robot
    assert Robot.objects.get(pk=robot.pk).state == "paused" and chain_tokens(redis_conn, robot) == []

    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    services.robot_start(name="r1", actor=ACTOR)
    robot.refresh_from_db()
    assert (robot.state, robot.failed_cycles_in_a_row, robot.paused_reason) == ("running", 0, "")
    assert robot.paused_at is None
    wait_for(lambda: RobotCycle.objects.filter(robot=robot, number=3, status="finished").exists(), timeout=60)
    assert ProcessedRecord.objects.get().status == "done"
    services.robot_stop(name="r1", actor=ACTOR)


def test_a_closed_port_counts_as_a_failed_cycle_and_pauses(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=closed_port_url(), max_failed_cycles=2)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 2)
    robot.refresh_from_db()
    assert robot.state == "paused" and robot.paused_reason.endswith("last: fetch_network")
    assert chain_tokens(redis_conn, robot) == []


def test_a_cycle_with_some_failed_records_is_not_a_failed_cycle(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [400]})
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}, {"id": 3}])
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=3, max_failed_cycles=1)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 1)
    robot.refresh_from_db()
    (cycle,) = cycles(robot)
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 2, 1)
    assert (robot.state, robot.failed_cycles_in_a_row) == ("running", 0)
    assert robot.chain_token != ""


def test_a_cycle_that_does_not_fail_resets_the_count(stub: HttpStub) -> None:
    replies = iter([Reply(status=500), Reply(body=[]), Reply(status=500), Reply(status=500)])
    stub.handler = lambda seen: next(replies)
    robot = make_robot(source_url=stub.url, max_failed_cycles=2)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 3)
    robot.refresh_from_db()
    assert [c.status for c in cycles(robot)] == ["failed", "finished", "failed"]
    assert (robot.state, robot.failed_cycles_in_a_row) == ("running", 1)
    run_cycles(robot, 1)
    assert Robot.objects.get(pk=robot.pk).state == "paused"


def test_max_failed_cycles_zero_never_pauses(stub: HttpStub, redis_conn: redis.Redis) -> None:
    stub.handler = lambda seen: Reply(status=503)
    robot = make_robot(source_url=stub.url, max_failed_cycles=0)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 6)
    robot.refresh_from_db()
    assert (robot.state, robot.failed_cycles_in_a_row) == ("running", 6)
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]
    assert not RobotAudit.objects.filter(action="pause").exists()


def test_a_paused_robot_runs_once_and_stays_paused_until_started(stub: HttpStub, redis_conn: redis.Redis) -> None:
    stub.handler = lambda seen: Reply(status=500)
    robot = make_robot(source_url=stub.url, max_failed_cycles=1)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 1)
    services.robot_run_once(name="r1", actor=ACTOR)
    run_cycles(robot, 1)
    robot.refresh_from_db()
    assert (robot.state, robot.chain_token, robot.failed_cycles_in_a_row) == ("paused", "", 2)
    assert RobotAudit.objects.filter(action="pause").count() == 1
    assert chain_tokens(redis_conn, robot) == []


def test_stopping_a_paused_robot_clears_the_pause(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(status=500)
    robot = make_robot(source_url=stub.url, max_failed_cycles=1)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 1)
    services.robot_stop(name="r1", actor=ACTOR)
    robot.refresh_from_db()
    assert (robot.state, robot.paused_reason, robot.paused_at, robot.failed_cycles_in_a_row) == ("stopped", "", None, 0)


@override_settings(ROBOT_API_TOKEN=TOKEN)
def test_the_api_shows_the_pause_and_starts_a_paused_robot(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(status=500)
    robot = make_robot(source_url=stub.url, max_failed_cycles=1)
    services.robot_start(name="r1", actor=ACTOR)
    run_cycles(robot, 1)
    status = Client().get("/api/robots/r1/", **BEARER).json()
    assert (status["state"], status["max_failed_cycles"], status["failed_cycles_in_a_row"]) == ("paused", 1, 1)
    assert status["paused_reason"] == "paused after 1 consecutive failed cycles; last: fetch_http_status"
    assert status["paused_at"] is not None
    started = Client().post("/api/robots/r1/start/", "{}", content_type="application/json", **BEARER)
    assert started.status_code == 200 and started.json()["state"] == "running"


@override_settings(ROBOT_API_TOKEN=TOKEN)
@pytest.mark.parametrize(
    ("value", "status"), [(0, 200), (7, 200), (1000, 200), (-1, 422), (1001, 422), (True, 422), ("3", 422)]
)
def test_max_failed_cycles_is_set_through_the_api(stub: HttpStub, value: Any, status: int) -> None:
    robot = make_robot(source_url=stub.url)
    body = json.dumps({"max_failed_cycles": value})
    response = Client().put("/api/robots/r1/", body, content_type="application/json", **BEARER)
    assert response.status_code == status, response.json()
    expected = value if status == 200 else 5
    assert Robot.objects.get(pk=robot.pk).max_failed_cycles == expected
    if status == 422:
        assert set(response.json()["error"]["fields"]) == {"max_failed_cycles"}
