"""The request counter: exact within a window, shared through Redis, and out of the way when Redis is not."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from django.test import override_settings

from asyncportal import ratelimit
from asyncportal.ratelimit import Rate, client_key, hit, parse_rate
from tests.helpers import closed_redis_url, queues_at, silent_redis_url

WINDOW_START = 1_700_000_040.0  # a whole minute in epoch seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Freeze the limiter's clock 15 s into a minute; tests move it by assigning ``clock[0]``."""
    now = [WINDOW_START + 15]
    monkeypatch.setattr(ratelimit, "_now", lambda: now[0])
    return now


def redis_at(url: str) -> override_settings:
    return override_settings(RQ_QUEUES=queues_at(url))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20/m", Rate(20, 60)), ("1/s", Rate(1, 1)), ("300/h", Rate(300, 3600)), (" 5/m ", Rate(5, 60)), ("0", None)],
)
def test_rates_are_a_count_per_second_minute_or_hour_and_zero_is_off(text: str, expected: Rate | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "20", "20/d", "0/m", "-1/m", "20/min", "m/20", "1e3/m", "２/m", "9999999999/m"])
def test_anything_else_is_not_a_rate(text: str) -> None:
    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(text)


def test_ipv4_clients_are_counted_alone_and_ipv6_clients_by_their_64_network() -> None:
    assert client_key("203.0.113.9") == "203.0.113.9"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")


def test_the_limit_is_let_through_and_the_next_hit_waits_for_the_window_end(
    clock: list[float], redis_conn: redis.Redis
) -> None:
    rate = Rate(limit=3, period=60)
    assert [hit("t:a", rate=rate, timeout=1.0) for _ in range(3)] == [0, 0, 0]
    assert hit("t:a", rate=rate, timeout=1.0) == 45
    clock[0] = WINDOW_START + 59.5
    assert hit("t:a", rate=rate, timeout=1.0) == 1
    key = f"{ratelimit.PREFIX}t:a:{int(WINDOW_START // 60)}"
    assert int(redis_conn.get(key) or 0) == 5
    assert 0 < redis_conn.ttl(key) <= 61


def test_buckets_are_counted_apart_and_a_new_window_starts_afresh(clock: list[float]) -> None:
    rate = Rate(limit=1, period=60)
    assert hit("t:a", rate=rate, timeout=1.0) == 0
    assert hit("t:a", rate=rate, timeout=1.0) > 0
    assert hit("t:b", rate=rate, timeout=1.0) == 0
    clock[0] = WINDOW_START + 60
    assert hit("t:a", rate=rate, timeout=1.0) == 0


def test_a_redis_that_is_down_lets_the_request_through_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with redis_at(closed_redis_url()), caplog.at_level(logging.WARNING, logger="asyncportal.ratelimit"):
        assert hit("t:a", rate=Rate(limit=1, period=60), timeout=0.2) == 0
    assert "rate limit skipped, request let through" in caplog.text


def test_a_hung_redis_costs_at_most_the_timeout_then_nothing_while_the_breaker_is_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeout = 0.2
    with silent_redis_url() as url, redis_at(url), caplog.at_level(logging.WARNING, logger="asyncportal.ratelimit"):
        started = time.monotonic()
        assert hit("t:a", rate=Rate(limit=1, period=60), timeout=timeout) == 0
        first = time.monotonic() - started
        started = time.monotonic()
        assert hit("t:a", rate=Rate(limit=1, period=60), timeout=timeout) == 0
        second = time.monotonic() - started
    # Without the deadline the client would wait forever; with it, half the budget to connect, half to answer.
    assert first < timeout + 0.15, first
    assert second < 0.05, second
    assert caplog.text.count("rate limit skipped") == 1
