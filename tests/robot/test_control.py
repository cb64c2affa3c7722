"""Start, stop, stop-now and run-once against a real Redis: exactly one chain, whatever the order of calls."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone
from rq.job import Job
from rq.queue import Queue

from asyncportal.queue_names import SERIALIZER
from robot import errors, jobs, services
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain, queueing
from tests.helpers import wait_for
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    Reply,
    chain_tokens,
    deliver_queued,
    due_tokens,
    make_robot,
)

ACTOR = services.Actor(source="api", label="tester", remote_addr="10.0.0.7")
pytestmark = pytest.mark.django_db(transaction=True)


def robot_queue(conn: redis.Redis) -> Queue:
    return Queue("robot", connection=conn)


def schedule_next(robot: Robot, seconds: float = 60) -> str:
    """Put the robot in the state a finished cycle leaves: running, next cycle scheduled later."""
    Robot.objects.filter(pk=robot.pk).update(state=Robot.State.RUNNING)
    with transaction.atomic():
        return chain.arm(chain.lock_robot(pk=robot.pk), run_at=timezone.now() + timedelta(seconds=seconds))


def test_start_enqueues_one_cycle_job_named_by_the_chain_token(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    started = services.robot_start(name="r1", actor=ACTOR)
    robot.refresh_from_db()
    assert robot.state == "running" and robot.chain_token == started.chain_token
    assert robot_queue(redis_conn).get_job_ids() == [robot.chain_token]
    job = Job.fetch(robot.chain_token, connection=redis_conn, serializer=SERIALIZER)
    assert job.func_name == "robot.jobs.run_cycle" and job.args == [robot.pk, robot.chain_token]
    audit = RobotAudit.objects.get(robot=robot)
    assert (audit.action, audit.source, audit.actor_label, audit.remote_addr) == ("start", "api", "tester", "10.0.0.7")


def test_start_of_a_running_robot_is_refused_and_changes_nothing(stub: HttpStub, redis_conn: redis.Redis) -> None:
    make_robot(source_url=stub.url, batch_size=5)
    first = services.robot_start(name="r1", actor=ACTOR)
    with pytest.raises(RobotError) as refused:
        services.robot_start(name="r1", values={"batch_size": 9}, actor=ACTOR)
    robot = Robot.objects.get(name="r1")
    assert refused.value.code == errors.ALREADY_RUNNING
    assert (robot.batch_size, robot.chain_token) == (5, first.chain_token)
    assert robot_queue(redis_conn).get_job_ids() == [first.chain_token]
    assert RobotAudit.objects.filter(action="start").count() == 1


def test_start_applies_given_values_and_invalid_values_change_nothing(stub: HttpStub, redis_conn: redis.Redis) -> None:
    make_robot(source_url=stub.url)
    with pytest.raises(RobotError) as invalid:
        services.robot_start(name="r1", values={"interval": 0, "batch_size": 10_001}, actor=ACTOR)
    assert invalid.value.code == errors.INVALID and set(invalid.value.fields) == {"timedelta", "records"}
    assert Robot.objects.get(name="r1").state == "stopped" and robot_queue(redis_conn).count == 0
    robot = services.robot_start(name="r1", values={"interval": 30, "batch_size": 7, "msg": "go"}, actor=ACTOR)
    robot.refresh_from_db()
    assert (robot.interval, robot.batch_size, robot.msg, robot.state) == (30, 7, "go", "running")


def test_stop_removes_the_due_cycle_before_returning(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    token = schedule_next(robot)
    assert due_tokens(redis_conn, robot) == [token] and robot_queue(redis_conn).count == 0
    services.robot_stop(name="r1", actor=ACTOR)
    robot.refresh_from_db()
    assert due_tokens(redis_conn, robot) == [] and queueing.tick() == 0
    assert not Job.exists(token, connection=redis_conn)
    assert (robot.state, robot.chain_token, robot.next_run_at) == ("stopped", "", None)
    assert chain_tokens(redis_conn, robot) == []


def test_stop_is_idempotent(stub: HttpStub) -> None:
    make_robot(source_url=stub.url)
    services.robot_stop(name="r1", actor=ACTOR)
    services.robot_stop(name="r1", actor=ACTOR)
    assert Robot.objects.get(name="r1").state == "stopped"
    assert list(RobotAudit.objects.values_list("action", flat=True)) == ["stop", "stop"]


def test_a_late_job_from_an_old_token_does_nothing(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    old = schedule_next(robot)
    services.robot_stop(name="r1", actor=ACTOR)
    new = services.robot_start(name="r1", actor=ACTOR).chain_token
    assert services.cycle_run(robot_id=robot.pk, token=old) is None
    assert RobotCycle.objects.count() == 0
    assert services.cycle_run(robot_id=robot.pk, token=new) is not None
    assert RobotCycle.objects.get().job_id == new


def test_the_same_token_cannot_start_two_cycles(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    robot = make_robot(source_url=stub.url)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    assert services.cycle_run(robot_id=robot.pk, token=token) is not None
    assert services.cycle_run(robot_id=robot.pk, token=token) is None  # e.g. RQ delivered it twice
    assert RobotCycle.objects.count() == 1


def test_stop_then_start_during_a_cycle_leaves_one_chain(stub: HttpStub, redis_conn: redis.Redis) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    robot = make_robot(source_url=stub.url)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)  # fanned out, its record still queued
    assert cycle_id is not None
    services.robot_stop(name="r1", actor=ACTOR)
    services.robot_start(name="r1", actor=ACTOR)
    assert chain_tokens(redis_conn, robot) == []  # the unfinished cycle will arm the next one
    deliver_queued(robot)
    robot.refresh_from_db()
    assert RobotCycle.objects.get(pk=cycle_id).status == "finished"
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]


def test_run_once_is_refused_while_a_cycle_is_in_progress(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    with pytest.raises(RobotError) as refused:
        services.robot_run_once(name="r1", actor=ACTOR)
    assert refused.value.code == errors.CYCLE_IN_PROGRESS
    assert Robot.objects.get(pk=robot.pk).chain_token == "" and robot_queue(redis_conn).count == 0


def test_run_once_of_a_stopped_robot_runs_one_cycle_and_schedules_nothing(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=stub.url)
    token = services.robot_run_once(name="r1", actor=ACTOR).chain_token
    assert robot_queue(redis_conn).get_job_ids() == [token]
    services.cycle_run(robot_id=robot.pk, token=token)  # the source gives nothing: the cycle ends at once
    robot.refresh_from_db()
    assert RobotCycle.objects.get().status == "finished"
    assert (robot.state, robot.chain_token, robot.next_run_at) == ("stopped", "", None)
    assert chain_tokens(redis_conn, robot) == []


def test_run_once_of_a_running_robot_replaces_the_due_cycle(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    old = schedule_next(robot)
    new = services.robot_run_once(name="r1", actor=ACTOR).chain_token
    assert due_tokens(redis_conn, robot) == []
    assert robot_queue(redis_conn).get_job_ids() == [new] and new != old
    assert chain_tokens(redis_conn, robot) == [new]


def test_stop_now_cancels_the_queued_records_fences_their_jobs_out_and_ends_the_cycle(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}, {"id": 3}])
    robot = make_robot(source_url=stub.url)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert cycle_id is not None
    records = Queue("records", connection=redis_conn, serializer=SERIALIZER)
    (job_id,) = records.get_job_ids()
    assert job_id == queueing.chunk_job_id(cycle_id, 0)
    services.robot_stop(name="r1", now=True, actor=ACTOR)
    cycle = RobotCycle.objects.get()
    robot.refresh_from_db()
    assert set(ProcessedRecord.objects.values_list("status", "dispatch")) == {("cancelled", 2)}
    assert (cycle.status, cycle.cancelled, cycle.finished_at is not None) == ("cancelled", 3, True)
    assert (robot.state, robot.total_cancelled, robot.cycles_completed) == ("stopped", 3, 1)
    assert RobotAudit.objects.filter(action="stop_now", detail="cancelled=3").exists()
    job = records.fetch_job(job_id)
    assert job is not None  # left in Redis: the new dispatch numbers make it a no-op
    assert jobs.process_records(*job.args) == {"done": 0, "failed": 0, "retried": 0, "skipped": 3, "handed_back": 0}
    assert set(ProcessedRecord.objects.values_list("status", flat=True)) == {"cancelled"}


def test_stop_now_lets_a_delivery_in_flight_finish_truthfully_then_ends_the_cycle_cancelled(
    stub: HttpStub, target: HttpStub
) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}])
    sink = IdempotentTarget()
    release = threading.Event()
    sink.hold["r1:1"] = release
    target.handler = sink
    robot = make_robot(source_url=stub.url, target_url=target.url, chunk_size=1)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    first = ProcessedRecord.objects.get(source_id="1")

    def deliver() -> dict[str, int]:
        try:
            return jobs.process_records([[first.pk, first.dispatch]])
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        delivery = pool.submit(deliver)
        wait_for(lambda: target.requests("POST"), message="the first record in flight")
        services.robot_stop(name="r1", now=True, actor=ACTOR)
        assert RobotCycle.objects.get().finished_at is None  # the delivery in flight is still pending
        assert dict(ProcessedRecord.objects.values_list("source_id", "status")) == {"1": "processing", "2": "cancelled"}
        release.set()
        assert delivery.result(timeout=30)["done"] == 1
    cycle = RobotCycle.objects.get()
    assert (cycle.status, cycle.done, cycle.cancelled) == ("cancelled", 1, 1)
    assert dict(ProcessedRecord.objects.values_list("source_id", "status")) == {"1": "done", "2": "cancelled"}
    assert sink.effects == {"r1:1"}


def test_the_next_cycle_adopts_records_cancelled_by_stop_now_first_and_delivers_them_once(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    batches = iter([[{"id": 1}, {"id": 2}, {"id": 3}], [{"id": 4}, {"id": 5}, {"id": 6}]])
    stub.handler = lambda seen: Reply(body=next(batches))
    robot = make_robot(source_url=stub.url, batch_size=4, chunk_size=2)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    services.robot_stop(name="r1", now=True, actor=ACTOR)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    second_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert stub.requests("GET")[1].query == {"limit": "1", "after": "3"}  # the adopted count against batch_size
    adopted = list(ProcessedRecord.objects.filter(source_id__in=["1", "2", "3"]).order_by("pk"))
    assert {(r.cycle_id, r.status, r.dispatch) for r in adopted} == {(second_id, "queued", 3)}
    redo = [queueing.record_job_id(adopted[0].pk, 3), queueing.record_job_id(adopted[2].pk, 3)]
    assert [r.job_id for r in adopted] == [redo[0], redo[0], redo[1]]
    records = Queue("records", connection=redis_conn)
    assert set(redo) <= set(records.get_job_ids())
    deliver_queued(robot)
    first, second = RobotCycle.objects.order_by("number")
    assert (first.status, first.cancelled) == ("cancelled", 3)  # what it reported when it ended stays
    assert (second.status, second.fetched, second.dispatched, second.done) == ("finished", 1, 4, 4)
    done = ProcessedRecord.objects.filter(status="done", attempts=1)
    assert sorted(done.values_list("source_id", flat=True)) == ["1", "2", "3", "4"]


def test_concurrent_starts_from_threads_make_exactly_one_chain(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    barrier = threading.Barrier(8)

    def start() -> str:
        barrier.wait()
        try:
            return services.robot_start(name="r1", actor=ACTOR).chain_token
        except RobotError as exc:
            return exc.code
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: start(), range(8)))
    robot.refresh_from_db()
    assert sorted(results).count(errors.ALREADY_RUNNING) == 7
    assert robot.chain_token in results
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]


def test_concurrent_starts_from_processes_make_exactly_one_chain_and_422_for_the_rest(
    stub: HttpStub, redis_conn: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    robot = make_robot(source_url=stub.url)
    env = {**subprocess_env, "ROBOT_API_TOKEN": "t" * 40}
    cmd = [sys.executable, "-m", "tests.robot.concurrent_start", "r1", str(tmp_path)]
    procs = [
        subprocess.Popen([*cmd, str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(6)
    ]
    wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 6, timeout=60, message="processes ready")
    (tmp_path / "go").touch()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    statuses = sorted(int(out.split()[0]) for out, _ in outputs)
    robot.refresh_from_db()
    assert statuses == [200, 422, 422, 422, 422, 422], outputs
    assert sum(b'"already_running"' in out for out, _ in outputs) == 5
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]
    assert RobotAudit.objects.filter(action="start", source="api", actor_label="api-token").count() == 1
