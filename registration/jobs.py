"""Worker entry points: take an id, call the service, and turn errors into RQ retries or a recorded failure."""

from __future__ import annotations

import contextlib
import logging
import smtplib

from django.db import InterfaceError, OperationalError
from rq import get_current_job

from registration import errors, services
from registration.models import Registration

logger = logging.getLogger(__name__)

# Errors that a later attempt may not meet: the database or the mail server was briefly unreachable.
TRANSIENT = (OperationalError, InterfaceError, smtplib.SMTPException, OSError)


def _fail(job_id: str, registration_id: str, reason: str) -> None:
    logger.error("registration job failed job=%s registration=%s reason=%r", job_id, registration_id, reason)
    services.registration_fail(registration_id=registration_id, job_id=job_id, reason=reason)


def process_registration(registration_id: str) -> str:
    """Process one registration; return its status as the job's result."""
    job = get_current_job()
    job_id = job.id if job else "-"
    try:
        registration = services.registration_process(registration_id=registration_id, job_id=job_id)
    except Registration.DoesNotExist:
        logger.warning("registration job skipped, no such registration job=%s registration=%s", job_id, registration_id)
        return "missing"
    except TRANSIENT as exc:
        error = type(exc).__name__
        if job is not None and job.retries_left:
            logger.warning(
                "registration job will retry job=%s registration=%s error=%s retries_left=%s",
                job_id,
                registration_id,
                error,
                job.retries_left,
            )
            # RQ runs this same job again: hand the row back so that run can claim it. If the database is
            # what failed, the row keeps its lease and the sweeper requeues it once the lease runs out.
            with contextlib.suppress(OperationalError, InterfaceError):
                services.registration_release(registration_id=registration_id, job_id=job_id)
            raise
        _fail(job_id, registration_id, errors.REASON_TRANSIENT.format(error=error))
        raise
    except Exception as exc:
        _fail(job_id, registration_id, errors.REASON_UNEXPECTED.format(error=type(exc).__name__))
        if job is not None:
            job.retries_left = 0  # A bug does not heal by retrying; RQ reads this when it handles the failure.
        raise
    logger.info(
        "registration job finished job=%s registration=%s status=%s attempts=%s",
        job_id,
        registration_id,
        registration.status,
        registration.attempts,
    )
    return str(registration.status)
