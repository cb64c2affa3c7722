"""Nothing is lost while Redis is down: the submission is stored, then the sweeper enqueues it once Redis is back."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.test import Client
from pytest_django.fixtures import Settings

from asyncportal import localredis
from asyncportal.queues import REGISTRATIONS
from registration.models import Registration, Status
from tests.conftest import BASE_DIR, StartWorker, stop_process
from tests.helpers import queues_at, wait_for
from tests.registration.factories import VALID

pytestmark = pytest.mark.slow


class RestartableRedis:
    """A private redis-server that can be stopped and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.server = localredis.start(data_dir, persistent=False)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = localredis.start(self.server.data_dir, persistent=False, port=self.server.port)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_conn(own_redis: RestartableRedis, settings: Settings) -> redis.Redis:
    """Replace the shared Redis with this module's own for the app and every fixture (cleaning, workers)."""
    settings.REDIS_URL = own_redis.url
    settings.RQ_QUEUES = queues_at(own_redis.url)
    return redis.Redis.from_url(own_redis.url)


def test_submission_while_redis_is_down_is_processed_after_it_returns(
    own_redis: RestartableRedis, start_worker: StartWorker, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    own_redis.stop()
    response = Client().post("/api/registrations/", data=json.dumps(VALID), content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["job_id"]) == ("pending", "")
    registration = Registration.objects.get(pk=body["id"])
    assert registration.status == Status.PENDING

    own_redis.start()
    env = {"REDIS_URL": own_redis.url}
    start_worker(REGISTRATIONS, extra_env=env)
    with open(tmp_path / "sweeper.log", "wb") as log:
        sweeper = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "sweep"],
            env={**subprocess_env, **env, "SWEEP_INTERVAL": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: Registration.objects.get(pk=registration.pk).status == Status.DONE,
                timeout=30,
                message="the sweeper and the worker to process the stored registration",
            )
        finally:
            stop_process(sweeper)
    registration.refresh_from_db()
    assert registration.job_id
    assert registration.user is not None
    assert (
        f"registration enqueued queue=registrations job={registration.job_id}" in (tmp_path / "sweeper.log").read_text()
    )
