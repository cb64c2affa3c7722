"""Builders shared by the registration tests: valid input, stored registrations, an in-process worker."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

import django_rq
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from asyncportal.queues import REGISTRATIONS
from registration.models import Registration

VALID: dict[str, str] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "login": "ada.l",
    "email": "ada@example.com",
    "phone": "+380671234567",
}


def valid(**overrides: str) -> dict[str, str]:
    return {**VALID, **overrides}


def make_registration(**overrides: Any) -> Registration:
    return Registration.objects.create(**{**VALID, **overrides})


def queue() -> Queue:
    """The registrations queue, enqueueing at once even inside the test's transaction."""
    return django_rq.get_queue(REGISTRATIONS, commit_mode="auto")


def run_worker() -> None:
    """Run every job on the registrations queue in this process, then return."""
    registrations = queue()
    SimpleWorker([registrations], connection=registrations.connection, serializer=JSONSerializer).work(burst=True)


class FailingEmailBackend(BaseEmailBackend):
    """A mail server that drops the connection: a transient error."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
