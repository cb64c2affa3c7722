from __future__ import annotations

import time

import pytest
import redis
from django.test import override_settings

from asyncportal import breaker, queues
from tests.helpers import closed_redis_url, queues_at


def timed_ping(connection: redis.Redis) -> tuple[type[Exception], float]:
    started = time.monotonic()
    with pytest.raises(redis.RedisError) as raised:
        connection.ping()
    return raised.type, time.monotonic() - started


def test_a_deadline_client_fails_at_once_after_a_timeout_then_tries_again(
    silent_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(breaker, "OPEN_FOR", 0.3)
    with override_settings(RQ_QUEUES=queues_at(silent_redis)):
        connection = queues.get_connection(deadline=0.1)
        assert timed_ping(connection)[0] is redis.TimeoutError
        error, elapsed = timed_ping(connection)
        assert error is breaker.BreakerOpen and elapsed < 0.05
        time.sleep(0.3)  # Lets OPEN_FOR pass: the breaker half-opens on the clock, nothing to poll for.
        error, elapsed = timed_ping(connection)
        assert error is redis.TimeoutError and elapsed >= 0.1


def test_a_refused_connection_opens_the_breaker_too() -> None:
    with override_settings(RQ_QUEUES=queues_at(closed_redis_url())):
        connection = queues.get_connection(deadline=0.1)
        assert timed_ping(connection)[0] is redis.ConnectionError
        assert "circuit breaker open" in str(pytest.raises(redis.ConnectionError, connection.ping).value)


def test_a_client_without_deadline_has_no_breaker() -> None:
    assert "breaker" not in queues.get_connection().connection_pool.connection_kwargs


def test_a_deadline_client_still_talks_to_a_redis_that_answers() -> None:
    assert queues.get_connection(deadline=1.0).ping()
