"""Registration business rules: create, enqueue, process, fail, retry, and the sweeper's catch-up."""

from __future__ import annotations

import functools
import logging
import math
import random
import time
import uuid
from datetime import timedelta
from typing import TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.template.loader import render_to_string
from django.utils import timezone
from redis import RedisError
from rq import Queue, Retry

from asyncportal import queues
from asyncportal.queues import REGISTRATIONS
from registration import errors, selectors
from registration.models import ACTIVE, Registration, Status

logger = logging.getLogger(__name__)

JOB = "registration.jobs.process_registration"
RETRY_MAX = 3
RETRY_INTERVALS = (5, 15, 60)
STALE_AFTER = timedelta(seconds=5)
SWEEP_BATCH = 500
# A registration whose job keeps vanishing (e.g. the worker is killed every time) is failed, not re-queued forever.
LOST_MAX_ATTEMPTS = 10
# RQ job states that mean no job will ever move this registration on.
LOST_JOB_STATES = {None, "failed", "stopped", "canceled"}
WELCOME_SUBJECT = "Welcome to asyncportal"


class RegistrationData(TypedDict):
    first_name: str
    last_name: str
    login: str
    email: str
    phone: str


def _queue() -> Queue:
    # A short deadline: this runs inside a web request, and a hung Redis must not hold it (see settings).
    return queues.get_queue(REGISTRATIONS, deadline=settings.RQ_ENQUEUE_DEADLINE)


def _enqueue_after_commit(registration_id: uuid.UUID) -> None:
    enqueue = functools.partial(registration_enqueue, registration_id=registration_id)
    queues.after_commit(enqueue, f"enqueue registration={registration_id}")


def _enqueue_stored(registration: Registration) -> None:
    """Enqueue the job of a registration stored as queued; on a Redis error put the row back to pending."""
    try:
        _queue().enqueue(JOB, args=[str(registration.pk)], job_id=registration.job_id, retry=_retry())
    except RedisError:
        # Only if nothing else moved it on; the sweeper enqueues pending rows once Redis answers again.
        Registration.objects.filter(pk=registration.pk, status=Status.QUEUED, job_id=registration.job_id).update(
            status=Status.PENDING, job_id="", enqueued_at=None, updated_at=timezone.now()
        )
        registration.status, registration.job_id, registration.enqueued_at = Status.PENDING, "", None
        raise
    logger.info(
        "registration enqueued queue=%s job=%s registration=%s", REGISTRATIONS, registration.job_id, registration.pk
    )


def _retry() -> Retry:
    return Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS))


def _duplicate_errors(registration: Registration) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if selectors.email_is_pending(email=registration.email):
        found["email"] = [errors.EMAIL_PENDING]
    if selectors.login_is_taken(login=registration.login) or not found:
        found["login"] = [errors.LOGIN_TAKEN]
    return found


def registration_create(*, data: RegistrationData) -> Registration:
    """Store a registration with its job id and enqueue that job once the transaction commits."""
    # Stored as queued with its job id in the one insert, so a submission writes once. Until the commit hook
    # enqueues, no job exists: a Redis error puts the row back to pending, and a crash in between leaves a
    # queued row whose job Redis does not know, which the sweeper re-enqueues like any lost job.
    registration = Registration(**data, status=Status.QUEUED, job_id=uuid.uuid4().hex, enqueued_at=timezone.now())
    try:
        registration.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise errors.RegistrationError("invalid", exc.message_dict) from None
    try:
        with transaction.atomic():
            registration.save(force_insert=True)
            enqueue = functools.partial(_enqueue_stored, registration)
            queues.after_commit(enqueue, f"enqueue registration={registration.pk}")
    except IntegrityError:
        # A concurrent submission won the race the form's checks could not see.
        raise errors.RegistrationError("duplicate", _duplicate_errors(registration)) from None
    logger.info("registration stored registration=%s", registration.pk)
    return registration


def registration_enqueue(*, registration_id: uuid.UUID | str) -> bool:
    """Put the job of an in-flight registration on the queue; return False if it is not in flight.

    Raises ``redis.RedisError`` when Redis does not answer: the row stays as it was, for the sweeper.
    """
    if not Registration.objects.filter(pk=registration_id, status__in=ACTIVE).exists():
        return False
    job_id = uuid.uuid4().hex
    _queue().enqueue(JOB, args=[str(registration_id)], job_id=job_id, retry=_retry())
    now = timezone.now()
    # The worker may already have moved the row on: only pending becomes queued; the job id is kept either way.
    Registration.objects.filter(pk=registration_id).update(
        status=Case(When(status=Status.PENDING, then=Value(Status.QUEUED)), default=F("status")),
        job_id=job_id,
        enqueued_at=now,
        updated_at=now,
    )
    logger.info("registration enqueued queue=%s job=%s registration=%s", REGISTRATIONS, job_id, registration_id)
    return True


@functools.cache
def parse_demo_delay(raw: str) -> tuple[float, float]:
    """Return ``(low, high)`` seconds from ``"0"``, ``"3"`` or ``"5-15"``; raise ValueError otherwise."""
    low, dash, high = raw.strip().partition("-")
    bounds = (float(low), float(high) if dash else float(low))
    if not all(math.isfinite(value) for value in bounds) or not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"not a delay in seconds or a range low-high: {raw!r}")
    return bounds


def _demo_delay() -> None:
    low, high = parse_demo_delay(settings.REGISTRATION_DEMO_DELAY)
    if high > 0:
        time.sleep(random.uniform(low, high))


def _start_processing(registration_id: uuid.UUID | str) -> Registration:
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        if registration.status in ACTIVE:
            registration.status = Status.PROCESSING
            registration.attempts += 1
            registration.save(update_fields=["status", "attempts", "updated_at"])
    return registration


def _attach_user(registration: Registration) -> bool:
    """Create the account for ``registration``; return False when its login belongs to someone else."""
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=registration.login).exists():
        return False
    # No password: create_user stores an unusable one; the person sets theirs through a reset link.
    registration.user = user_model.objects.create_user(
        username=registration.login,
        email=registration.email,
        password=None,
        first_name=registration.first_name,
        last_name=registration.last_name,
    )
    return True


def _send_welcome(registration: Registration) -> None:
    if registration.welcome_sent_at is not None:
        return
    context = {"first_name": registration.first_name, "login": registration.login}
    message = render_to_string("registration/welcome_email.txt", context)
    send_mail(WELCOME_SUBJECT, message, None, [registration.email])
    registration.welcome_sent_at = timezone.now()


def registration_process(*, registration_id: uuid.UUID | str) -> Registration:
    """Create the account and send the welcome mail, once; a final registration is returned unchanged."""
    registration = _start_processing(registration_id)
    if registration.status != Status.PROCESSING:
        return registration
    _demo_delay()
    with transaction.atomic():
        # The row lock makes a duplicate job wait here, then find the registration final.
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        if registration.status != Status.PROCESSING:
            return registration
        if registration.user_id is None and not _attach_user(registration):
            registration.status, registration.reason = Status.REJECTED, errors.REASON_LOGIN_TAKEN
        else:
            _send_welcome(registration)
            registration.status, registration.reason = Status.DONE, ""
        registration.save()
    return registration


def registration_fail(*, registration_id: uuid.UUID | str, reason: str) -> bool:
    """Mark an in-flight registration failed with ``reason``; return False when it was already final."""
    updated = Registration.objects.filter(pk=registration_id, status__in=ACTIVE).update(
        status=Status.FAILED, reason=reason, updated_at=timezone.now()
    )
    return updated > 0


def registration_retry(*, registration_id: uuid.UUID | str) -> Registration:
    """Send a failed or rejected registration through the queue again."""
    try:
        with transaction.atomic():
            registration = Registration.objects.select_for_update().get(pk=registration_id)
            if registration.status not in (Status.FAILED, Status.REJECTED):
                raise errors.RegistrationError("not_retryable", {"__all__": [errors.NOT_RETRYABLE]})
            registration.status, registration.reason, registration.job_id = Status.PENDING, "", ""
            registration.attempts = 0
            registration.save()
            _enqueue_after_commit(registration.pk)
    except IntegrityError:
        raise errors.RegistrationError("duplicate", _duplicate_errors(registration)) from None
    return registration


def _stale_rows() -> list[tuple[uuid.UUID, str, str, int]]:
    cutoff = timezone.now() - STALE_AFTER
    with transaction.atomic():
        # skip_locked: a row a worker or an admin action holds right now is not stale; the next sweep looks again.
        rows = (
            Registration.objects.select_for_update(skip_locked=True)
            .filter(status__in=ACTIVE, updated_at__lt=cutoff)
            .order_by("updated_at")
            .values_list("id", "status", "job_id", "attempts")
        )
        return list(rows[:SWEEP_BATCH])


def _lost() -> list[tuple[uuid.UUID, int]]:
    """Return (id, attempts) of in-flight registrations that no RQ job will move on."""
    rows = _stale_rows()
    states = queues.job_statuses([job_id or "none" for _, _, job_id, _ in rows])
    return [
        (pk, attempts)
        for pk, status, job_id, attempts in rows
        if status == Status.PENDING or states[job_id or "none"] in LOST_JOB_STATES
    ]


def registration_enqueue_stale() -> int:
    """Enqueue what Redis does not hold (stored while it was down, or lost in a restart); return how many."""
    enqueued = 0
    try:
        lost = _lost()
        for pk, attempts in lost:
            if attempts >= LOST_MAX_ATTEMPTS:
                registration_fail(registration_id=pk, reason=errors.REASON_LOST.format(attempts=attempts))
            else:
                enqueued += registration_enqueue(registration_id=pk)
    except RedisError as exc:
        # The rows not reached stay as they are; the next sweep takes them.
        logger.warning("registration sweep skipped, redis unreachable enqueued=%s: %r", enqueued, exc)
        return enqueued
    if lost:
        logger.info("registration sweep found=%s enqueued=%s", len(lost), enqueued)
    return enqueued
