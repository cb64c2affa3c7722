"""The whole path with real parts: live web server, form with CSRF, Redis, a `manage.py rqworker` process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from pytest_django.live_server_helper import LiveServer

from asyncportal.queues import REGISTRATIONS, get_queue
from registration.models import Registration
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.registration.factories import VALID

pytestmark = pytest.mark.slow


def status_when_final(http: httpx.Client, status_url: str) -> dict[str, Any] | None:
    body: dict[str, Any] = http.get(status_url).json()
    return body if body["status"] in ("done", "failed", "rejected") else None


def test_form_submission_is_processed_by_a_worker_until_done(
    live_server: LiveServer, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(REGISTRATIONS)
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        assert http.get("/register/").status_code == 200
        submitted = http.post("/register/", data={**VALID, "csrfmiddlewaretoken": http.cookies["csrftoken"]})
        assert submitted.status_code == 303
        status_page = http.get(submitted.headers["Location"])
        registration_id = submitted.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        body = wait_for(
            lambda: status_when_final(http, f"/api/registrations/{registration_id}/"),
            timeout=30,
            message="the registration to become final",
        )
    assert body is not None
    assert status_page.status_code == 200
    assert body["status"] == "done", body
    assert body["job_id"] in status_page.text
    registration = Registration.objects.get(pk=registration_id)
    assert registration.user == User.objects.get(username=VALID["login"])
    assert registration.welcome_sent_at is not None
    job = get_queue(REGISTRATIONS).fetch_job(body["job_id"])
    assert job is not None
    assert job.get_status() == "finished"
    log = tmp_path / "worker-0.log"
    line = f"registration job finished job={body['job_id']} registration={registration_id} status=done"
    wait_for(lambda: line in log.read_text(), timeout=10, message="the worker's log line")
    assert VALID["email"] not in log.read_text()


def test_form_post_without_the_csrf_token_is_refused(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        response = http.post("/register/", data=VALID)
    assert response.status_code == 403
    assert not Registration.objects.exists()
