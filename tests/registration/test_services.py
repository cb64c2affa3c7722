from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from asyncportal import queues
from asyncportal.queues import REGISTRATIONS, get_queue
from registration import errors, services
from registration.errors import RegistrationError
from registration.models import Registration, Status
from registration.services import RegistrationData
from tests.helpers import queues_at
from tests.registration.factories import VALID, make_registration

pytestmark = pytest.mark.django_db


def data(**overrides: str) -> RegistrationData:
    return RegistrationData(**{**VALID, **overrides})  # type: ignore[typeddict-item]


def backdate(registration: Registration, seconds: int = 60) -> None:
    """Make the registration look untouched for ``seconds`` (the sweeper only takes stale rows)."""
    Registration.objects.filter(pk=registration.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_create_stores_the_job_id_in_one_write_and_enqueues_only_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        registration = services.registration_create(data=data())
    stored = Registration.objects.get()
    assert (stored.status, stored.job_id) == (Status.QUEUED, registration.job_id)
    assert stored.enqueued_at is not None
    assert get_queue(REGISTRATIONS).count == 0
    for callback in callbacks:
        callback()
    registration.refresh_from_db()
    assert registration.status == Status.QUEUED
    job = get_queue(REGISTRATIONS).fetch_job(registration.job_id)
    assert job is not None
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]
    assert job.func_name == "registration.jobs.process_registration"
    assert job.args == [str(registration.pk)]
    assert (job.retries_left, job.retry_intervals) == (3, [5, 15, 60])


def test_create_writes_the_row_once_when_redis_answers(django_capture_on_commit_callbacks: Any) -> None:
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        registration = services.registration_create(data=data())
    writes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1
    assert writes[0].startswith("INSERT")
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


def test_create_ids_are_random_uuids() -> None:
    first = services.registration_create(data=data())
    second = services.registration_create(data=data(login="grace", email="grace@example.com"))
    assert first.pk.version == 4
    assert first.pk != second.pk


def test_create_turns_a_lost_duplicate_race_into_a_login_field_error() -> None:
    make_registration(login="ADA.L", email="other@example.com")
    with pytest.raises(RegistrationError) as caught:
        services.registration_create(data=data())
    assert caught.value.code == "duplicate"
    assert caught.value.errors == {"login": [errors.LOGIN_TAKEN]}
    assert Registration.objects.count() == 1


def test_create_turns_a_lost_duplicate_race_into_an_email_field_error() -> None:
    make_registration(login="grace", email="ADA@EXAMPLE.COM", status=Status.PROCESSING)
    with pytest.raises(RegistrationError) as caught:
        services.registration_create(data=data())
    assert caught.value.errors == {"email": [errors.EMAIL_PENDING]}
    assert Registration.objects.count() == 1


def test_create_validates_data_that_did_not_come_through_the_form() -> None:
    with pytest.raises(RegistrationError) as caught:
        services.registration_create(data=data(phone="call me", login="a b"))
    assert caught.value.code == "invalid"
    assert set(caught.value.errors) == {"phone", "login"}
    assert not Registration.objects.exists()


def test_create_while_redis_is_down_keeps_the_registration_pending(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(RQ_QUEUES=queues_at()), django_capture_on_commit_callbacks(execute=True):
        registration = services.registration_create(data=data())
    registration.refresh_from_db()
    assert (registration.status, registration.job_id, registration.enqueued_at) == (Status.PENDING, "", None)
    assert f"enqueue registration={registration.pk} deferred to the sweeper" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_create_outside_a_transaction_enqueues_once_its_insert_has_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool]] = []
    enqueue = queues.enqueue

    def watched(queue: Any, func: str, **options: Any) -> None:
        stored = Registration.objects.filter(job_id=options["job_id"]).exists()
        seen.append((transaction.get_connection().in_atomic_block, stored))
        enqueue(queue, func, **options)

    monkeypatch.setattr(queues, "enqueue", watched)
    registration = services.registration_create(data=data())
    assert transaction.get_autocommit()
    assert seen == [(False, True)]
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


@pytest.mark.django_db(transaction=True)
def test_create_outside_a_transaction_turns_a_lost_race_into_field_errors() -> None:
    make_registration(login="ADA.L", email="ADA@example.com")
    with pytest.raises(RegistrationError) as caught:
        services.registration_create(data=data())
    assert caught.value.errors == {"login": [errors.LOGIN_TAKEN], "email": [errors.EMAIL_PENDING]}
    assert Registration.objects.count() == 1
    assert get_queue(REGISTRATIONS).count == 0


@pytest.mark.django_db(transaction=True)
def test_create_outside_a_transaction_while_redis_is_down_answers_and_stores_pending() -> None:
    with override_settings(RQ_QUEUES=queues_at()):
        registration = services.registration_create(data=data())
    assert (registration.status, registration.job_id) == (Status.PENDING, "")
    registration.refresh_from_db()
    assert (registration.status, registration.job_id, registration.enqueued_at) == (Status.PENDING, "", None)


def test_enqueue_gives_each_attempt_a_new_job_id() -> None:
    registration = make_registration()
    assert services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    first_job = registration.job_id
    assert registration.status == Status.QUEUED
    assert registration.enqueued_at is not None
    assert services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    assert registration.job_id not in ("", first_job)
    assert get_queue(REGISTRATIONS).job_ids == [first_job, registration.job_id]


def test_enqueue_leaves_a_processing_registration_to_its_lease() -> None:
    registration = make_registration(status=Status.PROCESSING, job_id="working")
    assert not services.registration_enqueue(registration_id=registration.pk)
    registration.refresh_from_db()
    assert (registration.status, registration.job_id) == (Status.PROCESSING, "working")
    assert get_queue(REGISTRATIONS).count == 0


@pytest.mark.parametrize("status", [Status.DONE, Status.FAILED, Status.REJECTED])
def test_enqueue_leaves_final_registrations_alone(status: Status) -> None:
    registration = make_registration(status=status)
    assert not services.registration_enqueue(registration_id=registration.pk)
    assert get_queue(REGISTRATIONS).count == 0
    registration.refresh_from_db()
    assert registration.job_id == ""


def test_process_creates_an_account_without_password_and_sends_one_welcome_mail() -> None:
    registration = make_registration(status=Status.QUEUED, job_id="job-1")
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    registration.refresh_from_db()
    user = User.objects.get(username="ada.l")
    assert (registration.status, registration.user, registration.attempts) == (Status.DONE, user, 1)
    assert (user.email, user.first_name, user.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert not user.has_usable_password()
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]
    assert "ada.l" in mail.outbox[0].body
    assert registration.welcome_sent_at is not None


def test_process_twice_changes_nothing() -> None:
    registration = make_registration(status=Status.QUEUED, job_id="job-1")
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    first = Registration.objects.get(pk=registration.pk)
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    second = Registration.objects.get(pk=registration.pk)
    assert (second.status, second.attempts, second.welcome_sent_at) == (Status.DONE, 1, first.welcome_sent_at)
    assert second.updated_at == first.updated_at
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1


def test_process_rejects_a_login_that_an_account_took_meanwhile() -> None:
    other = User.objects.create_user(username="ADA.L")
    registration = make_registration(status=Status.QUEUED, job_id="job-1")
    services.registration_process(registration_id=registration.pk, job_id="job-1")
    registration.refresh_from_db()
    assert (registration.status, registration.reason) == (Status.REJECTED, errors.REASON_LOGIN_TAKEN)
    assert registration.user is None
    assert list(User.objects.all()) == [other]
    assert mail.outbox == []


def test_process_waits_the_demo_delay_within_its_range(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    registration = make_registration(status=Status.QUEUED, job_id="job-1")
    with override_settings(REGISTRATION_DEMO_DELAY="5-15"):
        services.registration_process(registration_id=registration.pk, job_id="job-1")
    assert len(slept) == 1
    assert 5 <= slept[0] <= 15


@pytest.mark.parametrize(
    ("raw", "expected"), [("0", (0, 0)), ("3", (3, 3)), ("5-15", (5, 15)), (" 0.5-2 ", (0.5, 2)), ("4-4", (4, 4))]
)
def test_demo_delay_parses_seconds_or_a_range(raw: str, expected: tuple[float, float]) -> None:
    assert services.parse_demo_delay(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "15-5", "-3", "5-", "nan", "inf", "1-2-3"])
def test_demo_delay_refuses_anything_else(raw: str) -> None:
    with pytest.raises(ValueError):
        services.parse_demo_delay(raw)


def test_fail_records_the_reason_on_a_registration_in_flight() -> None:
    registration = make_registration(status=Status.PROCESSING, job_id="job-1")
    assert services.registration_fail(registration_id=registration.pk, job_id="job-1", reason="mail server down")
    registration.refresh_from_db()
    assert (registration.status, registration.reason) == (Status.FAILED, "mail server down")


def test_fail_leaves_a_done_registration_done() -> None:
    registration = make_registration(status=Status.DONE)
    assert not services.registration_fail(registration_id=registration.pk, job_id="", reason="late")
    registration.refresh_from_db()
    assert (registration.status, registration.reason) == (Status.DONE, "")


@pytest.mark.parametrize("status", [Status.FAILED, Status.REJECTED])
def test_retry_sends_a_failed_or_rejected_registration_through_the_queue_again(
    status: Status, django_capture_on_commit_callbacks: Any
) -> None:
    registration = make_registration(status=status, reason="boom", job_id="old", attempts=4)
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_retry(registration_id=registration.pk)
    registration.refresh_from_db()
    assert (registration.status, registration.reason, registration.attempts) == (Status.QUEUED, "", 0)
    assert registration.job_id not in ("", "old")
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


@pytest.mark.parametrize("status", [Status.PENDING, Status.QUEUED, Status.PROCESSING, Status.DONE])
def test_retry_refuses_registrations_that_did_not_fail(status: Status) -> None:
    registration = make_registration(status=status)
    with pytest.raises(RegistrationError) as caught:
        services.registration_retry(registration_id=registration.pk)
    assert caught.value.code == "not_retryable"
    registration.refresh_from_db()
    assert registration.status == status


def test_retry_refuses_when_a_newer_registration_uses_the_login() -> None:
    failed = make_registration(status=Status.FAILED, email="old@example.com")
    make_registration(status=Status.QUEUED, job_id="job-1")
    with pytest.raises(RegistrationError) as caught:
        services.registration_retry(registration_id=failed.pk)
    assert caught.value.code == "duplicate"
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


def test_sweep_enqueues_pending_registrations_older_than_five_seconds() -> None:
    stale = make_registration()
    backdate(stale)
    fresh = make_registration(login="grace", email="grace@example.com")
    assert services.registration_enqueue_stale() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (Status.QUEUED, Status.PENDING)
    assert get_queue(REGISTRATIONS).job_ids == [stale.job_id]


@pytest.mark.parametrize("status", [Status.QUEUED, Status.PROCESSING])
def test_sweep_requeues_registrations_whose_job_redis_lost(status: Status) -> None:
    registration = make_registration(status=status, job_id="lost-in-a-restart")
    backdate(registration)
    assert services.registration_enqueue_stale() == 1
    registration.refresh_from_db()
    assert registration.job_id != "lost-in-a-restart"
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


def test_sweep_leaves_queued_registrations_whose_job_is_waiting() -> None:
    registration = make_registration()
    services.registration_enqueue(registration_id=registration.pk)
    backdate(registration)
    registration.refresh_from_db()
    assert services.registration_enqueue_stale() == 0
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


def test_sweep_fails_a_registration_whose_job_was_lost_too_often() -> None:
    registration = make_registration(status=Status.PROCESSING, job_id="gone", attempts=services.LOST_MAX_ATTEMPTS)
    backdate(registration)
    assert services.registration_enqueue_stale() == 0
    registration.refresh_from_db()
    assert registration.status == Status.FAILED
    assert registration.reason == errors.REASON_LOST.format(attempts=services.LOST_MAX_ATTEMPTS)
    assert get_queue(REGISTRATIONS).count == 0


def test_sweep_with_redis_down_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    registration = make_registration()
    backdate(registration)
    with override_settings(RQ_QUEUES=queues_at()):
        assert services.registration_enqueue_stale() == 0
    registration.refresh_from_db()
    assert (registration.status, registration.job_id) == (Status.PENDING, "")
    assert "registration sweep skipped, redis unreachable" in caplog.text
