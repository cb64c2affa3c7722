"""Nothing is lost while Redis is down: the submission is stored, then the sweeper enqueues it once Redis is back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from asyncportal.queues import REGISTRATIONS
from registration.models import Registration, Status
from tests.conftest import BASE_DIR, StartWorker, stop_process
from tests.helpers import wait_for
from tests.registration.factories import VALID
from tests.reliability.private_redis import RestartableRedis, private_redis, redis_conn

__all__ = ["private_redis", "redis_conn"]
pytestmark = pytest.mark.slow


def test_submission_while_redis_is_down_is_processed_after_it_returns(
    private_redis: RestartableRedis, start_worker: StartWorker, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    private_redis.stop()
    response = Client().post("/api/registrations/", data=json.dumps(VALID), content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["job_id"]) == ("pending", "")
    registration = Registration.objects.get(pk=body["id"])
    assert registration.status == Status.PENDING

    private_redis.start()
    env = {"REDIS_URL": private_redis.url}
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
