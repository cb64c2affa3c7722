"""Pruning across the apps: RQ's failed jobs, the ``prune`` command and the sweeper's once-per-interval step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rq import SimpleWorker
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from asyncportal import queues, registry, sweeper
from registration.models import Registration, Status
from robot.models import RobotAudit
from robot.services import Actor, robot_save
from tests.registration.factories import make_registration

pytestmark = pytest.mark.django_db(transaction=True)  # prune closes old connections between steps


def failed_job(redis_conn: redis.Redis, queue_name: str, *, days_ago: float) -> str:
    """Fail a real job on ``queue_name`` with a worker; make it look as if it failed ``days_ago`` days ago."""
    queue = queues.get_queue(queue_name)
    job = queue.enqueue("builtins.int", "mail to ada@example.com failed")
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    assert job.id in queue.failed_job_registry.get_job_ids()
    ended = datetime.now(UTC) - timedelta(days=days_ago)
    redis_conn.hset(Job.key_for(job.id), "ended_at", utcformat(ended))
    return job.id


def test_prune_removes_old_failed_jobs_from_every_queue_and_keeps_recent_ones(redis_conn: redis.Redis) -> None:
    old = [failed_job(redis_conn, name, days_ago=8) for name in queues.ALL]
    recent = failed_job(redis_conn, queues.REGISTRATIONS, days_ago=6)
    assert redis_conn.exists(Result.get_key(old[0]))  # type: ignore[no-untyped-call]

    assert queues.failed_jobs_prune() == {"failed jobs": 3}

    assert queues.get_queue(queues.REGISTRATIONS).failed_job_registry.get_job_ids() == [recent]
    assert all(queues.get_queue(name).failed_job_registry.get_job_ids() == [] for name in (queues.ROBOT, "records"))
    assert not any(redis_conn.exists(Job.key_for(job_id), Result.get_key(job_id)) for job_id in old)  # type: ignore[no-untyped-call]


def test_prune_drops_a_failed_registry_entry_whose_job_is_gone(redis_conn: redis.Redis) -> None:
    job_id = failed_job(redis_conn, queues.REGISTRATIONS, days_ago=0)
    redis_conn.delete(Job.key_for(job_id))
    assert queues.failed_jobs_prune() == {"failed jobs": 1}
    assert queues.get_queue(queues.REGISTRATIONS).failed_job_registry.get_job_ids() == []


def test_dry_run_of_failed_jobs_deletes_nothing(redis_conn: redis.Redis) -> None:
    job_id = failed_job(redis_conn, queues.REGISTRATIONS, days_ago=8)
    assert queues.failed_jobs_prune(dry_run=True) == {"failed jobs": 1}
    assert queues.get_queue(queues.REGISTRATIONS).failed_job_registry.get_job_ids() == [job_id]


@override_settings(RQ_FAILED_JOB_RETENTION_DAYS=0)
def test_zero_days_keeps_failed_jobs(redis_conn: redis.Redis) -> None:
    job_id = failed_job(redis_conn, queues.REGISTRATIONS, days_ago=300)
    assert queues.failed_jobs_prune() == {"failed jobs": 0}
    assert queues.get_queue(queues.REGISTRATIONS).failed_job_registry.get_job_ids() == [job_id]


def old_data(redis_conn: redis.Redis) -> str:
    registration = make_registration(status=Status.DONE)
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(days=31))
    robot_save(name="r1", values={"source_url": "https://example.com/"}, actor=Actor(source="api", label="t"))
    RobotAudit.objects.update(created_at=timezone.now() - timedelta(days=366))
    return failed_job(redis_conn, queues.REGISTRATIONS, days_ago=8)


def test_prune_command_dry_run_reports_and_deletes_nothing(redis_conn: redis.Redis) -> None:
    job_id = old_data(redis_conn)
    out = StringIO()
    call_command("prune", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert "registrations: would prune 1" in lines and "robot audit: would prune 1" in lines
    assert "failed jobs: would prune 1" in lines
    assert (Registration.objects.count(), RobotAudit.objects.count()) == (1, 1)
    assert queues.get_queue(queues.REGISTRATIONS).failed_job_registry.get_job_ids() == [job_id]


def test_prune_command_prunes_and_prints_each_kind(redis_conn: redis.Redis) -> None:
    old_data(redis_conn)
    out = StringIO()
    call_command("prune", stdout=out)
    assert out.getvalue().splitlines() == [
        "robot payloads: pruned 0",
        "robot cycles: pruned 0",
        "robot audit: pruned 1",
        "registrations: pruned 1",
        "idempotency keys: pruned 0",
        "failed jobs: pruned 1",
    ]
    assert (Registration.objects.count(), RobotAudit.objects.count()) == (0, 0)


def counting_step(calls: list[bool]) -> Callable[..., dict[str, int]]:
    def step(*, dry_run: bool = False) -> dict[str, int]:
        calls.append(dry_run)
        return {"things": 0}

    return step


@override_settings(PRUNE_INTERVAL=3600)
def test_the_sweeper_prunes_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    now = [1000.0]
    monkeypatch.setattr(registry, "steps", registry.Steps())
    registry.register_sweep_step("prune_when_due", sweeper.prune_when_due, order=900)
    registry.register_prune_step("counting", counting_step(calls), order=100)
    monkeypatch.setattr(sweeper, "_prune_clock", sweeper.Every(clock=lambda: now[0]))
    sweeper.sweep_once()
    now[0] += 3599
    sweeper.sweep_once()
    assert calls == [False]
    now[0] += 1
    sweeper.sweep_once()
    assert calls == [False, False]


def test_a_failing_prune_step_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*, dry_run: bool = False) -> dict[str, int]:
        raise RuntimeError("boom")

    calls: list[bool] = []
    monkeypatch.setattr(registry, "steps", registry.Steps())
    registry.register_prune_step("broken", broken, order=100)
    registry.register_prune_step("counting", counting_step(calls), order=200)
    pruned = sweeper.prune()
    assert (pruned.failed, pruned.counts, calls) == (["broken"], {"things": 0}, [False])
