"""Registration business rules: create, enqueue, process, fail, retry, and the sweeper's catch-up.

A registration belongs to the job whose id it holds. The job claims it with one conditional UPDATE
(queued → processing, with a lease); it finishes it only while it still holds it. The sweeper gives a
registration whose lease ran out, or whose job Redis lost, a new job id, so a late first job can do nothing.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
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
# RQ job states that mean the job will never claim its queued registration.
LOST_JOB_STATES = {None, "finished", "failed", "stopped", "canceled"}
# Seconds a job may sit in RQ's intermediate list (taken by a worker, not started) before it counts as stranded.
STRANDED_AFTER = 5.0
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


def _push(registration_id: uuid.UUID | str, job_id: str) -> None:
    """Enqueue job ``job_id`` of a registration stored as queued; on a Redis error put the row back to pending."""
    try:
        queues.enqueue(_queue(), JOB, args=[str(registration_id)], job_id=job_id, retry=_retry())
    except RedisError:
        # Only if nothing else moved it on; the sweeper enqueues pending rows once Redis answers again.
        Registration.objects.filter(pk=registration_id, status=Status.QUEUED, job_id=job_id).update(
            status=Status.PENDING, job_id="", enqueued_at=None, updated_at=timezone.now()
        )
        raise
    logger.info("registration enqueued queue=%s job=%s registration=%s", REGISTRATIONS, job_id, registration_id)


def _enqueue_stored(registration: Registration) -> None:
    try:
        _push(registration.pk, registration.job_id)
    except RedisError:
        registration.status, registration.job_id, registration.enqueued_at = Status.PENDING, "", None
        raise


def _retry() -> Retry:
    return Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS))


def _duplicate_errors(registration: Registration) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    taken = selectors.taken(login=registration.login, email=registration.email)
    if taken.email:
        found["email"] = [errors.EMAIL_PENDING]
    if taken.login or not found:
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
        _insert(registration)
    except IntegrityError:
        # A concurrent submission won the race the form's checks could not see.
        raise errors.RegistrationError("duplicate", _duplicate_errors(registration)) from None
    # Outside a transaction the insert has committed and this runs at once; inside one, at its commit.
    queues.after_commit(functools.partial(_enqueue_stored, registration), f"enqueue registration={registration.pk}")
    logger.info("registration stored registration=%s", registration.pk)
    return registration


def _insert(registration: Registration) -> None:
    # One statement needs no transaction of its own: in autocommit the INSERT commits by itself, without a
    # BEGIN and a COMMIT (two more round trips on PostgreSQL). Inside the caller's transaction (an
    # Idempotency-Key) a savepoint keeps a lost race from breaking that transaction.
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            registration.save(force_insert=True)
    else:
        registration.save(force_insert=True)


def registration_enqueue(*, registration_id: uuid.UUID | str) -> bool:
    """Give a pending or queued registration a new job and enqueue it; return False for any other status.

    The new job id fences out any older job. A processing registration is left to its lease. Raises
    ``redis.RedisError`` when Redis does not answer: the row is then pending, for the sweeper.
    """
    job_id = uuid.uuid4().hex
    now = timezone.now()
    # The row names the job before Redis holds it, so the job can never start before it may claim the row.
    moved = Registration.objects.filter(pk=registration_id, status__in=(Status.PENDING, Status.QUEUED)).update(
        status=Status.QUEUED, job_id=job_id, lease_until=None, enqueued_at=now, updated_at=now
    )
    if not moved:
        return False
    _push(registration_id, job_id)
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


def _claim(registration_id: uuid.UUID | str, job_id: str) -> bool:
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.REGISTRATION_LEASE_SECONDS)
    claimed = Registration.objects.filter(pk=registration_id, status=Status.QUEUED, job_id=job_id).update(
        status=Status.PROCESSING, attempts=F("attempts") + 1, lease_until=lease_until, updated_at=now
    )
    return claimed > 0


def _held(registration_id: uuid.UUID | str, job_id: str) -> QuerySet[Registration]:
    return Registration.objects.filter(pk=registration_id, status=Status.PROCESSING, job_id=job_id)


def _attach_user(registration: Registration) -> bool:
    """Create the account for ``registration``; return False when its login belongs to someone else."""
    user_model = get_user_model()
    if selectors.account_exists(login=registration.login):
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


def registration_process(*, registration_id: uuid.UUID | str, job_id: str) -> Registration:
    """Create the account and send the welcome mail as job ``job_id``; any other job changes nothing.

    Raises ``Registration.DoesNotExist`` for an unknown id. The account is created in the transaction that
    marks the registration done, so a job killed before its commit leaves no account and the next job creates
    it once. The mail goes out inside that transaction: a kill after sending, before the commit, means the
    next job sends it again (at-least-once; a duplicate welcome mail is the accepted cost).
    """
    if not _claim(registration_id, job_id):
        return Registration.objects.get(pk=registration_id)
    _demo_delay()
    with transaction.atomic():
        # The row lock makes the sweeper, or a job given the row after this one's lease ran out, wait here.
        registration = _held(registration_id, job_id).select_for_update().first()
        if registration is None:
            logger.warning("registration job fenced out job=%s registration=%s", job_id, registration_id)
            return Registration.objects.get(pk=registration_id)
        if registration.user_id is None and not _attach_user(registration):
            registration.status, registration.reason = Status.REJECTED, errors.REASON_LOGIN_TAKEN
        else:
            _send_welcome(registration)
            registration.status, registration.reason = Status.DONE, ""
        registration.lease_until = None
        # The lock already fences; the condition says so where the write is.
        _held(registration_id, job_id).update(
            status=registration.status,
            reason=registration.reason,
            user=registration.user,
            welcome_sent_at=registration.welcome_sent_at,
            lease_until=None,
            updated_at=timezone.now(),
        )
    return registration


def registration_release(*, registration_id: uuid.UUID | str, job_id: str) -> bool:
    """Hand a registration job ``job_id`` holds back to the queue, for RQ's retry of that same job."""
    released = _held(registration_id, job_id).update(status=Status.QUEUED, lease_until=None, updated_at=timezone.now())
    return released > 0


def registration_fail(*, registration_id: uuid.UUID | str, job_id: str, reason: str) -> bool:
    """Mark a registration failed with ``reason`` if it is in flight with job ``job_id``; return whether it was."""
    updated = Registration.objects.filter(pk=registration_id, status__in=ACTIVE, job_id=job_id).update(
        status=Status.FAILED, reason=reason, lease_until=None, updated_at=timezone.now()
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
            registration.attempts, registration.lease_until = 0, None
            registration.save()
            _enqueue_after_commit(registration.pk)
    except IntegrityError:
        raise errors.RegistrationError("duplicate", _duplicate_errors(registration)) from None
    return registration


def _stale_rows(stranded: set[str]) -> list[dict[str, Any]]:
    cutoff = timezone.now() - STALE_AFTER
    # A stranded job is out of RQ's lists now: its registration is taken however recently it was queued.
    wanted = Q(status__in=ACTIVE, updated_at__lt=cutoff) | Q(status=Status.QUEUED, job_id__in=stranded)
    with transaction.atomic():
        # skip_locked: a row a worker or an admin action holds right now is not stale; the next sweep looks again.
        rows: Any = (
            Registration.objects.select_for_update(skip_locked=True)
            .filter(wanted)
            .order_by("updated_at")
            .values("id", "status", "job_id", "attempts", "lease_until")
        )
        return list(rows[:SWEEP_BATCH])


def _is_lost(row: dict[str, Any], states: dict[str, str | None], silent: set[str], now: datetime) -> bool:
    if row["status"] == Status.PENDING:
        return True
    if row["status"] == Status.PROCESSING:
        # No lease: claimed before leases existed; the row is stale, so treat its lease as run out.
        return row["lease_until"] is None or row["lease_until"] < now
    return row["job_id"] in silent or states[row["job_id"]] in LOST_JOB_STATES


def _lost() -> list[dict[str, Any]]:
    """Return the in-flight registrations no job will move on: unqueued, lease run out, or job lost."""
    stranded = queues.stranded(REGISTRATIONS, older_than=STRANDED_AFTER)
    rows = _stale_rows(stranded)
    states = queues.job_statuses([row["job_id"] for row in rows if row["status"] == Status.QUEUED])
    now = timezone.now()
    # A started job claims its row at once; one that has not after STRANDED_AFTER lost its worker.
    started = queues.job_started([job_id for job_id, state in states.items() if state == "started"])
    silent = stranded | {
        job for job, at in started.items() if at is None or (now - at).total_seconds() >= STRANDED_AFTER
    }
    return [row for row in rows if _is_lost(row, states, silent, now)]


def _recover(row: dict[str, Any]) -> bool:
    """Fail a registration lost too often, else requeue it under a new job id; return whether it was enqueued."""
    # Fenced on what the sweep saw: a job that claimed or finished the row meanwhile wins.
    fence = Registration.objects.filter(pk=row["id"], status=row["status"], job_id=row["job_id"])
    now = timezone.now()
    if row["attempts"] >= LOST_MAX_ATTEMPTS:
        reason = errors.REASON_LOST.format(attempts=row["attempts"])
        fence.update(status=Status.FAILED, reason=reason, lease_until=None, updated_at=now)
        return False
    job_id = uuid.uuid4().hex
    if not fence.update(status=Status.QUEUED, job_id=job_id, lease_until=None, enqueued_at=now, updated_at=now):
        return False
    _push(row["id"], job_id)
    return True


def registration_enqueue_stale() -> int:
    """Requeue what no job will finish (never enqueued, lost by Redis, stranded, or lease run out); return how many.

    Attempts are bounded: a registration claimed ``LOST_MAX_ATTEMPTS`` times without finishing is failed.
    """
    enqueued = 0
    try:
        lost = _lost()
        for row in lost:
            enqueued += _recover(row)
    except RedisError as exc:
        # The rows not reached stay as they are; the next sweep takes them.
        logger.warning("registration sweep skipped, redis unreachable enqueued=%s: %r", enqueued, exc)
        return enqueued
    if lost:
        logger.info("registration sweep found=%s enqueued=%s", len(lost), enqueued)
    return enqueued
