"""The sweeper's repairs, decided from the database and checked against what Redis still knows."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rq.job import Job
from rq.queue import Queue

from asyncportal.queue_names import SERIALIZER
from robot import services
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain, heal, queueing
from tests.helpers import queues_at
from tests.robot.support import HttpStub, Reply, chain_jobs, due_tokens, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def overdue(robot: Robot, seconds: float = 10) -> None:
    Robot.objects.filter(pk=robot.pk).update(next_run_at=timezone.now() - timedelta(seconds=seconds))


def fanned_out(stub: HttpStub, ids: list[int], age: float = 10, **values: Any) -> tuple[Robot, RobotCycle]:
    stub.handler = lambda seen: Reply(body=[{"id": n} for n in ids])
    robot = make_robot(source_url=stub.url, **values)
    token = services.robot_start(name=robot.name, actor=ACTOR).chain_token
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert cycle_id is not None
    past = timezone.now() - timedelta(seconds=age)
    RobotCycle.objects.filter(pk=cycle_id).update(fanned_out_at=past)
    ProcessedRecord.objects.filter(cycle_id=cycle_id).update(dispatched_at=past)
    return robot, RobotCycle.objects.get(pk=cycle_id)


def test_a_running_robot_whose_chain_job_vanished_is_re_armed(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    Robot.objects.filter(pk=robot.pk).update(state="running", chain_token="robot-1-lost")
    overdue(robot)
    assert services.robot_heal_all() == 1
    robot.refresh_from_db()
    assert robot.chain_token.startswith(f"robot-{robot.pk}-") and robot.chain_token != "robot-1-lost"
    assert chain_jobs(redis_conn, robot) == [robot.chain_token]
    assert RobotAudit.objects.get(action="heal", source="system").detail == "chain re-armed: job robot-1-lost was None"
    assert services.robot_heal_all() == 0  # once re-armed, the next sweep leaves it alone


def test_a_chain_waiting_for_its_time_or_for_a_worker_is_left_alone(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token  # queued, no worker running
    overdue(robot)
    assert services.robot_heal_all() == 0
    services.robot_stop(name="r1", actor=ACTOR)
    Robot.objects.filter(pk=robot.pk).update(state="running")
    with transaction.atomic():
        later = chain.arm(chain.lock_robot(pk=robot.pk), run_at=timezone.now() + timedelta(seconds=60))
    assert services.robot_heal_all() == 0
    assert Robot.objects.get(pk=robot.pk).chain_token == later != token


def test_an_overdue_scheduled_job_is_replaced_when_no_scheduler_moves_it(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=stub.url)
    Robot.objects.filter(pk=robot.pk).update(state="running")
    with transaction.atomic():
        stuck = chain.arm(chain.lock_robot(pk=robot.pk), run_at=timezone.now() + timedelta(seconds=60))
    overdue(robot)
    assert services.robot_heal_all() == 1
    robot.refresh_from_db()
    assert not Job.exists(stuck, connection=redis_conn)
    assert Queue("robot", connection=redis_conn).get_job_ids() == [robot.chain_token]


def test_a_stopped_robot_without_a_cycle_is_not_touched(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    overdue(robot)
    assert services.robot_heal_all() == 0
    assert chain_jobs(redis_conn, robot) == []


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_a_cycle_that_never_fanned_out_is_failed_as_worker_lost_and_the_chain_goes_on(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=stub.url, state="running")
    stale = timezone.now() - timedelta(seconds=heal.fetch_stall_seconds() + 1)
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=stale)
    fresh_robot = make_robot("r2", source_url=stub.url, state="running")
    RobotCycle.objects.create(robot=fresh_robot, number=1, started_at=timezone.now())
    assert services.robot_heal_all() == 1
    cycle.refresh_from_db()
    robot.refresh_from_db()
    assert (cycle.status, cycle.error_code) == ("failed", "worker_lost")
    assert cycle.error.startswith("the cycle's worker was lost")
    assert due_tokens(redis_conn, robot) == [robot.chain_token]
    assert RobotCycle.objects.get(robot=fresh_robot).finished_at is None


def test_records_whose_jobs_were_lost_are_re_dispatched_with_new_dispatch_numbers(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot, cycle = fanned_out(stub, [1, 2, 3], chunk_size=1)
    redis_conn.delete(*(Job.key_for(r.job_id) for r in ProcessedRecord.objects.filter(source_id__in=["1", "2"])))
    assert services.robot_heal_all() == 2
    records = {r.source_id: r for r in ProcessedRecord.objects.all()}
    assert (records["1"].dispatch, records["2"].dispatch, records["3"].dispatch) == (2, 2, 1)
    queued = set(Queue("records", connection=redis_conn, serializer=SERIALIZER).get_job_ids())
    assert {records["1"].job_id, records["2"].job_id} <= queued
    assert services.robot_heal_all() == 0


def test_a_delivery_whose_lease_expired_is_re_dispatched_and_a_live_one_is_not(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot, cycle = fanned_out(stub, [1])
    record = ProcessedRecord.objects.get()
    ProcessedRecord.objects.update(status="processing", attempts=1, lease_until=timezone.now() + timedelta(seconds=5))
    assert services.robot_heal_all() == 0  # still within its lease
    ProcessedRecord.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.robot_heal_all() == 1
    record.refresh_from_db()
    assert (record.status, record.dispatch, record.lease_until) == ("queued", 2, None)
    assert services.records_process(pairs=[(record.pk, 1)]).skipped == 1  # the first job is fenced out


def test_a_job_stranded_in_rqs_intermediate_list_is_re_dispatched(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot, cycle = fanned_out(stub, [1, 2])
    job_id = ProcessedRecord.objects.first().job_id  # type: ignore[union-attr]
    # What a worker killed between taking the job and starting it leaves behind.
    redis_conn.lmove("rq:queue:records", "rq:queue:records:intermediate", "LEFT", "RIGHT")
    assert redis_conn.lrange("rq:queue:records:intermediate", 0, -1) == [job_id.encode()]
    assert services.robot_heal_all() == 0  # first sighting: it may be a job a worker is starting right now
    redis_conn.set(queueing.SEEN_KEY + job_id, time.time() - heal.GRACE - 1)
    assert services.robot_heal_all() == 2
    assert redis_conn.llen("rq:queue:records:intermediate") == 0
    assert set(ProcessedRecord.objects.values_list("dispatch", flat=True)) == {2}


def test_a_started_chunk_that_never_reserved_its_records_is_re_dispatched(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot, cycle = fanned_out(stub, [1])
    record = ProcessedRecord.objects.get()
    started = (timezone.now() - timedelta(seconds=heal.GRACE + 1)).isoformat()
    redis_conn.hset(Job.key_for(record.job_id), mapping={"status": "started", "started_at": started})
    assert services.robot_heal_all() == 1
    assert ProcessedRecord.objects.get().dispatch == 2


@override_settings(ROBOT_RECORD_RETRIES=1)
def test_a_lost_delivery_without_attempts_left_fails_and_finishes_its_cycle(stub: HttpStub) -> None:
    robot, cycle = fanned_out(stub, [1])
    ProcessedRecord.objects.update(status="processing", attempts=2, lease_until=timezone.now() - timedelta(seconds=1))
    assert services.robot_heal_all() == 1
    record = ProcessedRecord.objects.get()
    cycle.refresh_from_db()
    assert record.status == "failed" and record.error.startswith("gave up after 2 attempts")
    assert (cycle.status, cycle.failed) == ("finished", 1)


def test_redis_being_down_is_logged_not_raised(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url, state="running", chain_token="robot-1-x")
    overdue(robot)
    with override_settings(RQ_QUEUES=queues_at()):
        assert services.robot_heal_all() == 0
    assert Robot.objects.get(pk=robot.pk).chain_token == "robot-1-x"
