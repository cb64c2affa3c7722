from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from asyncportal import queues, sweeper
from registration import services
from registration.models import Registration, Status
from tests.registration.factories import make_registration


def strand(job_id: str) -> None:
    """Do what a worker does when it dequeues, and then die: the job sits in the intermediate list, queued."""
    queue = queues.get_queue(queues.REGISTRATIONS)
    queue.enqueue("registration.jobs.process_registration", args=["x"], job_id=job_id)
    queue.connection.lmove(queue.key, queue.intermediate_queue_key)


def test_a_job_stranded_at_two_sightings_is_failed_and_leaves_the_list(redis_conn: redis.Redis) -> None:
    strand("stranded-job")
    assert queues.fail_stranded(queues.REGISTRATIONS, older_than=0) == []
    assert queues.fail_stranded(queues.REGISTRATIONS, older_than=0) == ["stranded-job"]
    assert queues.job_statuses(["stranded-job"]) == {"stranded-job": "failed"}
    assert redis_conn.llen(queues.get_queue(queues.REGISTRATIONS).intermediate_queue_key) == 0


def test_a_job_seen_once_or_recently_is_left_alone() -> None:
    strand("young-job")
    assert queues.fail_stranded(queues.REGISTRATIONS, older_than=0) == []
    assert queues.fail_stranded(queues.REGISTRATIONS, older_than=60) == []
    assert queues.job_statuses(["young-job"]) == {"young-job": "queued"}


def test_a_started_job_in_the_list_is_not_failed(redis_conn: redis.Redis) -> None:
    strand("started-job")
    redis_conn.hset("rq:job:started-job", "status", "started")
    queues.fail_stranded(queues.REGISTRATIONS, older_than=0)
    assert queues.fail_stranded(queues.REGISTRATIONS, older_than=0) == []
    assert queues.job_statuses(["started-job"]) == {"started-job": "started"}


@pytest.mark.django_db
def test_the_sweeper_re_enqueues_a_registration_whose_job_was_stranded(monkeypatch: pytest.MonkeyPatch) -> None:
    registration = make_registration(status=Status.QUEUED, job_id="stranded-job")
    strand("stranded-job")
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    monkeypatch.setattr(sweeper, "STRANDED_AFTER", 0.0)
    sweeper.fail_stranded_registrations()  # first sighting
    sweeper.fail_stranded_registrations()
    assert services.registration_enqueue_stale() == 1
    registration.refresh_from_db()
    assert registration.status == Status.QUEUED and registration.job_id != "stranded-job"
    assert registration.job_id in queues.get_queue(queues.REGISTRATIONS).job_ids
