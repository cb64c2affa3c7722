"""The intake rate limit: every submission (form or API, valid or not) counts against its client's address.

Counting refused submissions too is what makes probing for taken logins and pending emails as slow as creating
accounts; the answers themselves stay honest.
"""

from __future__ import annotations

from django.conf import settings

from asyncportal import ratelimit
from registration.errors import RateLimited


def registration_admit(*, client: str) -> None:
    """Count one submission from address ``client``; raise ``RateLimited`` past ``REGISTRATION_RATE_LIMIT``."""
    rate = ratelimit.parse_rate(settings.REGISTRATION_RATE_LIMIT)
    if rate is None:
        return
    bucket = f"registration:{ratelimit.client_key(client)}"
    retry_after = ratelimit.hit(bucket, rate=rate, timeout=settings.REGISTRATION_RATE_LIMIT_TIMEOUT)
    if retry_after:
        raise RateLimited(retry_after)
