from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import override_settings
from rq.job import Job, JobStatus

from asyncportal.queues import REGISTRATIONS, get_queue
from registration import errors, services
from registration.models import Registration, Status
from tests.registration.factories import make_registration, queue, run_worker

pytestmark = pytest.mark.django_db

FAILING_MAIL = "tests.registration.factories.FailingEmailBackend"


def enqueued_registration(**fields: object) -> tuple[Registration, Job]:
    registration = make_registration(**fields)
    assert services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    job = get_queue(REGISTRATIONS).fetch_job(registration.job_id)
    assert job is not None
    return registration, job


def test_worker_creates_the_account_and_sends_one_welcome_mail() -> None:
    registration, job = enqueued_registration()
    run_worker()
    registration.refresh_from_db()
    assert registration.status == Status.DONE
    assert registration.user == User.objects.get(username="ada.l")
    assert len(mail.outbox) == 1
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, "done")


def test_running_the_job_again_changes_nothing() -> None:
    registration, _ = enqueued_registration()
    run_worker()
    first = Registration.objects.get(pk=registration.pk)
    queue().enqueue(services.JOB, args=[str(registration.pk)])
    run_worker()
    again = Registration.objects.get(pk=registration.pk)
    assert (again.status, again.attempts, again.welcome_sent_at) == (Status.DONE, 1, first.welcome_sent_at)
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1


def test_login_owned_by_an_existing_account_ends_rejected_and_the_job_succeeds() -> None:
    registration, job = enqueued_registration()
    User.objects.create_user(username="Ada.L")
    run_worker()
    registration.refresh_from_db()
    assert (registration.status, registration.reason) == (Status.REJECTED, errors.REASON_LOGIN_TAKEN)
    assert mail.outbox == []
    assert job.get_status(refresh=True) == JobStatus.FINISHED


@override_settings(EMAIL_BACKEND=FAILING_MAIL)
def test_transient_error_with_retries_left_is_scheduled_for_a_retry() -> None:
    registration, job = enqueued_registration()
    run_worker()
    registration.refresh_from_db()
    # Handed back to the queue for RQ's retry of the same job, which claims it again.
    assert (registration.status, registration.attempts, registration.reason) == (Status.QUEUED, 1, "")
    assert registration.lease_until is None
    assert not User.objects.exists()  # The account creation rolled back with the failed mail.
    scheduled = get_queue(REGISTRATIONS).fetch_job(job.id)
    assert scheduled is not None
    assert (scheduled.get_status(), scheduled.retries_left) == (JobStatus.SCHEDULED, 2)
    assert job.id in get_queue(REGISTRATIONS).scheduled_job_registry.get_job_ids()


@override_settings(EMAIL_BACKEND=FAILING_MAIL)
def test_transient_error_on_the_last_attempt_ends_failed_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "RETRY_INTERVALS", (0,))  # Retry at once, so one burst runs every attempt.
    registration, job = enqueued_registration()
    run_worker()
    registration.refresh_from_db()
    assert registration.status == Status.FAILED
    assert registration.reason == errors.REASON_TRANSIENT.format(error="SMTPServerDisconnected")
    assert registration.attempts == services.RETRY_MAX + 1
    assert not User.objects.exists()
    assert job.get_status(refresh=True) == JobStatus.FAILED


def test_unexpected_error_fails_at_once_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*, registration_id: object, job_id: str) -> Registration:
        raise KeyError("bug")

    monkeypatch.setattr(services, "registration_process", broken)
    registration, job = enqueued_registration()
    run_worker()
    registration.refresh_from_db()
    assert registration.status == Status.FAILED
    assert registration.reason == errors.REASON_UNEXPECTED.format(error="KeyError")
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert get_queue(REGISTRATIONS).scheduled_job_registry.get_job_ids() == []


def test_job_for_a_deleted_registration_finishes_without_effect() -> None:
    job = queue().enqueue(services.JOB, args=[str(uuid.uuid4())])
    run_worker()
    assert (job.get_status(refresh=True), job.return_value()) == (JobStatus.FINISHED, "missing")
    assert not User.objects.exists()


def test_job_logs_its_job_and_registration_ids_but_no_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    registration, job = enqueued_registration()
    run_worker()
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("registration.")]
    assert f"registration job finished job={job.id} registration={registration.pk} status=done attempts=1" in ours
    for personal in ("Ada", "Lovelace", "ada.l", "ada@example.com", "380671234567"):
        assert not any(personal in message for message in ours)
