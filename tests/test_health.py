from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings

from asyncportal import health
from tests.helpers import queues_at


def test_healthz_answers_without_touching_database_or_host_check(client: Client) -> None:
    response = client.get("/healthz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_and_redis_ok(client: Client) -> None:
    response = client.get("/readyz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client: Client) -> None:
    with override_settings(RQ_QUEUES=queues_at()):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")


@pytest.mark.django_db
def test_readyz_stays_200_but_degraded_when_only_the_database_is_required(client: Client) -> None:
    with override_settings(RQ_QUEUES=queues_at(), READINESS_REQUIRED=["database"]):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"].startswith("error: ")


@pytest.mark.django_db
def test_readyz_fails_within_its_deadline_when_redis_hangs(client: Client, silent_redis: str) -> None:
    started = time.monotonic()
    with override_settings(RQ_QUEUES=queues_at(silent_redis)):
        response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error: ")
    assert health.REDIS_DEADLINE * 0.9 <= elapsed < health.REDIS_DEADLINE + 1.0  # it hung, and no longer
