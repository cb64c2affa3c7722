"""Idempotent intake: one ``Idempotency-Key`` creates at most one registration, in the database (not Redis).

Insert first, then read: the key's row is inserted in the transaction that creates the registration, so a
concurrent request with the same key waits on the unique index and, once the first commits, finds its row.
A refused first request (400) rolls its key back: only an accepted registration is remembered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from registration import errors
from registration.models import IdempotencyKey, Registration


def fingerprint(body: dict[str, Any]) -> str:
    """Return the SHA-256 of ``body`` as canonical JSON (key order and spacing do not count)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def expired_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.REGISTRATION_IDEMPOTENCY_TTL)


def registration_create_once(*, key: str, body: dict[str, Any], create: Callable[[], Registration]) -> Registration:
    """Return the registration ``key`` created, or call ``create`` once for it; 422 for the key with another body."""
    digest = fingerprint(body)
    IdempotencyKey.objects.filter(key=key, created_at__lt=expired_before()).delete()
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = IdempotencyKey.objects.create(key=key, fingerprint=digest, created_at=timezone.now())
        except IntegrityError:
            claim = None
        if claim is None:
            return _replay(key, digest)
        # Both rows commit together or not at all: a refused first request leaves the key free.
        registration = create()
        claim.registration = registration
        claim.save(update_fields=["registration"])
        return registration


def _replay(key: str, digest: str) -> Registration:
    found = IdempotencyKey.objects.select_related("registration").get(key=key)
    if found.fingerprint != digest:
        raise errors.RegistrationError("idempotency_key_reused", {"__all__": [errors.IDEMPOTENCY_KEY_REUSED]})
    assert found.registration is not None  # set in the transaction that inserted the key
    return found.registration


def idempotency_keys_prune(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """Delete the keys older than ``REGISTRATION_IDEMPOTENCY_TTL``; return how many (would) go."""
    old = IdempotencyKey.objects.filter(created_at__lt=expired_before(now))
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted
