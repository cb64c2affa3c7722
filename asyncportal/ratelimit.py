"""A per-client request counter in Redis, shared by every web process, that fails open.

A fixed window: one key per client and window, counted with INCR and given its lifetime with EXPIRE in one
MULTI/EXEC round trip, so a key never outlives its window. A client may burst twice the limit across a window
boundary; the windows in use (a minute for 20 submissions) make that harmless, and in return the answer to a
refused client (``Retry-After``) is exact.

The counter runs on the queue layer's no-retry client with the breaker in front: when Redis is down, hung or
failed moments ago, the request is let through and a line logged. Refusing intake because Redis is ill would
turn a Redis outage into a portal outage, which the rest of the design (store now, enqueue later) avoids.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass

from redis import RedisError

from asyncportal import breaker, queues

logger = logging.getLogger(__name__)

PREFIX = "asyncportal:ratelimit:"
PERIODS = {"s": 1, "m": 60, "h": 3600}
RATE = re.compile(r"([1-9][0-9]{0,8})/([smh])")
# One IPv6 client usually holds a whole /64; counting single addresses would let it take 2**64 turns.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int


def parse_rate(text: str) -> Rate | None:
    """Return ``"20/m"`` (a count per ``s``, ``m`` or ``h``) as a Rate, None for ``"0"`` (off); else ValueError."""
    text = text.strip()
    if text == "0":
        return None
    found = RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a rate like 20/m (a count per s, m or h) or 0 (off)")
    return Rate(limit=int(found.group(1)), period=PERIODS[found.group(2)])


def client_key(address: str) -> str:
    """Return what ``address`` is counted under: itself, or its /64 network for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


def _now() -> float:
    return time.time()


def hit(bucket: str, *, rate: Rate, timeout: float) -> int:
    """Count one request in ``bucket``; return 0 when it is within ``rate``, else the seconds until it would be.

    Redis gets ``timeout`` seconds in all (half to connect, half to answer); failing that, return 0.
    """
    now = _now()
    window = int(now // rate.period)
    key = f"{PREFIX}{bucket}:{window}"
    try:
        with queues.get_connection(deadline=timeout / 2).pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rate.period + 1)
            count, _ = pipe.execute()
    except breaker.BreakerOpen:
        # The failure that opened it was logged; a line per request would flood the log during an outage.
        return 0
    except RedisError as exc:
        logger.warning(
            "rate limit skipped, request let through: Redis unavailable or slower than %gs: %r", timeout, exc
        )
        return 0
    if int(count) <= rate.limit:
        return 0
    return max(1, math.ceil((window + 1) * rate.period - now))
