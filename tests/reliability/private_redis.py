"""A private redis-server a test may stop, start again or restart empty, never the shared one.

Import ``private_redis`` and ``redis_conn`` into a test module to use it: the module's ``redis_conn`` then
overrides the shared-Redis fixture, so the app, the workers, the sweeper and the test all use this server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pytest_django.fixtures import Settings

from asyncportal import localredis
from tests.helpers import queues_at


class RestartableRedis:
    """A redis-server without persistence that can be stopped and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.server = localredis.start(data_dir, persistent=False)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = localredis.start(self.server.data_dir, persistent=False, port=self.server.port)

    def restart_empty(self) -> float:
        """Stop the server and start an empty one on the same port; return the time it is back."""
        self.stop()
        self.start()
        return time.time()


@pytest.fixture
def private_redis(tmp_path: Path, settings: Settings) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path / "redis")
    settings.REDIS_URL = server.url
    settings.RQ_QUEUES = queues_at(server.url)
    yield server
    server.stop()


@pytest.fixture
def redis_conn(private_redis: RestartableRedis) -> redis.Redis:
    return redis.Redis.from_url(private_redis.url)
