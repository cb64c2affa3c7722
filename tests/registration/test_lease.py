"""The claim, the fence and the lease: a registration belongs to the job whose id it holds, for a while."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from django.contrib.auth.models import User
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from asyncportal import queues
from asyncportal.queues import REGISTRATIONS, get_queue
from registration import services
from registration.models import Registration, Status
from tests.registration.factories import make_registration, run_worker

pytestmark = pytest.mark.django_db


def claimed(job_id: str = "job-1", *, lease_left: float = 30.0) -> Registration:
    """A registration job ``job_id`` claimed, with ``lease_left`` seconds of its lease to go (negative: ran out)."""
    registration = make_registration(status=Status.PROCESSING, job_id=job_id, attempts=1)
    Registration.objects.filter(pk=registration.pk).update(
        lease_until=timezone.now() + timedelta(seconds=lease_left),
        updated_at=timezone.now() - timedelta(seconds=60),
    )
    return registration


def test_a_job_claims_its_queued_registration_with_a_lease() -> None:
    registration = make_registration(status=Status.QUEUED, job_id="job-1")
    with override_settings(REGISTRATION_LEASE_SECONDS=40), pytest.MonkeyPatch.context() as patch:
        seen: list[Registration] = []
        patch.setattr(services, "_demo_delay", lambda: seen.append(Registration.objects.get(pk=registration.pk)))
        services.registration_process(registration_id=registration.pk, job_id="job-1")
    (during,) = seen
    assert (during.status, during.attempts) == (Status.PROCESSING, 1)
    assert during.lease_until is not None
    assert 39 <= (during.lease_until - timezone.now()).total_seconds() <= 40
    registration.refresh_from_db()
    assert (registration.status, registration.lease_until) == (Status.DONE, None)


def test_a_job_whose_id_the_registration_does_not_hold_changes_nothing() -> None:
    registration = make_registration(status=Status.QUEUED, job_id="job-2")
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    registration.refresh_from_db()
    assert (registration.status, registration.attempts, registration.lease_until) == (Status.QUEUED, 0, None)
    assert not User.objects.exists()
    assert mail.outbox == []


def test_an_expired_lease_is_requeued_by_the_sweep_under_a_new_job_id() -> None:
    registration = claimed("job-1", lease_left=-1)
    assert services.registration_enqueue_stale() == 1
    registration.refresh_from_db()
    assert (registration.status, registration.lease_until, registration.attempts) == (Status.QUEUED, None, 1)
    assert registration.job_id not in ("", "job-1")
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


def test_a_live_lease_is_left_alone_by_the_sweep() -> None:
    registration = claimed("job-1", lease_left=10)
    assert services.registration_enqueue_stale() == 0
    registration.refresh_from_db()
    assert (registration.status, registration.job_id) == (Status.PROCESSING, "job-1")
    assert get_queue(REGISTRATIONS).count == 0


def test_a_job_that_outlived_its_lease_does_nothing_even_if_it_finishes_after_the_new_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registration = make_registration(status=Status.QUEUED, job_id="job-1")

    def lease_runs_out_and_the_new_job_finishes() -> None:
        Registration.objects.filter(pk=registration.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1), updated_at=timezone.now() - timedelta(seconds=60)
        )
        monkeypatch.setattr(services, "_demo_delay", lambda: None)
        assert services.registration_enqueue_stale() == 1
        run_worker()  # the new job, under the new id, runs while the first one still sleeps

    monkeypatch.setattr(services, "_demo_delay", lease_runs_out_and_the_new_job_finishes)
    late = services.registration_process(registration_id=registration.pk, job_id="job-1")
    registration.refresh_from_db()
    assert late.status == Status.DONE and registration.job_id != "job-1"
    assert (registration.status, registration.attempts) == (Status.DONE, 2)
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1
    # And once more after everything: the old job id still changes nothing.
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    assert Registration.objects.get(pk=registration.pk).updated_at == registration.updated_at


def test_a_stale_job_cannot_fail_the_registration_its_successor_holds() -> None:
    registration = claimed("job-2")
    assert not services.registration_fail(registration_id=registration.pk, job_id="job-1", reason="late")
    registration.refresh_from_db()
    assert (registration.status, registration.reason) == (Status.PROCESSING, "")


def test_a_queued_registration_whose_job_finished_without_claiming_it_is_requeued() -> None:
    registration = make_registration()
    services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    queues.get_connection().hset(f"rq:job:{registration.job_id}", "status", "finished")
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(seconds=60))
    assert services.registration_enqueue_stale() == 1
    assert Registration.objects.get(pk=registration.pk).job_id != registration.job_id


def test_a_job_started_by_a_worker_that_died_before_claiming_is_requeued() -> None:
    registration = make_registration()
    services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    key = f"rq:job:{registration.job_id}"
    queues.get_connection().hset(key, mapping={"status": "started", "started_at": timezone.now().isoformat()})
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(seconds=60))
    assert services.registration_enqueue_stale() == 0  # just started: it claims its row in a moment
    started = (timezone.now() - timedelta(seconds=services.STRANDED_AFTER + 1)).isoformat()
    queues.get_connection().hset(key, "started_at", started)
    assert services.registration_enqueue_stale() == 1
    assert Registration.objects.get(pk=registration.pk).job_id != registration.job_id


def test_a_job_stranded_in_rqs_intermediate_list_is_requeued_on_the_second_sighting(
    redis_conn: redis.Redis,
) -> None:
    registration = make_registration()
    services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    stranded_job = registration.job_id
    # What a worker killed between taking the job and starting it leaves behind.
    redis_conn.lmove("rq:queue:registrations", "rq:queue:registrations:intermediate", "LEFT", "RIGHT")
    assert services.registration_enqueue_stale() == 0  # first sighting: a worker may be starting it right now
    redis_conn.set(queues.SEEN_KEY + stranded_job, time.time() - services.STRANDED_AFTER - 1)
    assert services.registration_enqueue_stale() == 1
    registration.refresh_from_db()
    assert registration.status == Status.QUEUED and registration.job_id != stranded_job
    assert redis_conn.llen("rq:queue:registrations:intermediate") == 0
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]
    run_worker()
    assert Registration.objects.get(pk=registration.pk).status == Status.DONE


def test_a_registration_whose_lease_ran_out_too_often_is_failed_not_requeued() -> None:
    registration = claimed("job-9", lease_left=-1)
    Registration.objects.filter(pk=registration.pk).update(attempts=services.LOST_MAX_ATTEMPTS)
    assert services.registration_enqueue_stale() == 0
    registration.refresh_from_db()
    assert (registration.status, registration.lease_until) == (Status.FAILED, None)
    assert get_queue(REGISTRATIONS).count == 0
