"""Idempotency-Key on POST /api/registrations/: one key, one registration — on repeats, races and with Redis down."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from asyncportal.queues import REGISTRATIONS, get_queue
from registration import api, errors
from registration.models import IdempotencyKey, Registration
from registration.retention import registration_prune
from tests.helpers import queues_at
from tests.registration.factories import VALID, valid

URL = "/api/registrations/"
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_rate_limit(settings: Any) -> None:
    settings.REGISTRATION_RATE_LIMIT = "0"


def post(body: Any, key: str | None, client: Client | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return (client or Client()).post(URL, json.dumps(body), content_type="application/json", headers=headers)


def test_the_same_key_and_body_answer_the_first_registration_without_a_second_row_or_job() -> None:
    first, again = post(VALID, "key-1"), post(VALID, "key-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"] and again["Location"] == first["Location"]
    assert Registration.objects.count() == 1
    assert get_queue(REGISTRATIONS).job_ids == [first.json()["job_id"]]


def test_key_order_and_spacing_of_the_body_do_not_make_it_another_body() -> None:
    first = post(VALID, "key-1")
    reordered = Client().post(
        URL,
        json.dumps(dict(reversed(VALID.items())), indent=2),
        content_type="application/json",
        headers={"Idempotency-Key": "key-1"},
    )
    assert reordered.status_code == 202 and reordered.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_422_and_stores_nothing() -> None:
    post(VALID, "key-1")
    other = post(valid(login="grace.h", email="grace@example.com"), "key-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["errors"] == {"__all__": [errors.IDEMPOTENCY_KEY_REUSED]}
    assert Registration.objects.count() == 1 and get_queue(REGISTRATIONS).count == 1


def test_a_refused_first_request_leaves_the_key_free_for_a_corrected_body() -> None:
    refused = post(valid(phone="12ab"), "key-1")
    accepted = post(VALID, "key-1")
    assert (refused.status_code, accepted.status_code) == (400, 202)
    assert IdempotencyKey.objects.get().registration_id == Registration.objects.get().pk


def test_different_keys_are_different_registrations() -> None:
    assert post(VALID, "key-1").status_code == 202
    # The same person again under a new key: the duplicate rules answer, not the key.
    assert post(VALID, "key-2").json()["errors"] == {"login": [errors.LOGIN_TAKEN], "email": [errors.EMAIL_PENDING]}


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there", "a b"])
def test_a_bad_key_is_400_naming_the_header_and_stores_nothing(key: str) -> None:
    response = post(VALID, key)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"Idempotency-Key"}
    assert not Registration.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_key_of_255_visible_ascii_characters_is_accepted() -> None:
    assert post(VALID, "~" * 255).status_code == 202


def test_an_expired_key_creates_a_new_registration_and_the_prune_step_deletes_expired_keys() -> None:
    first = post(VALID, "key-1")
    Registration.objects.update(status="done")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = post(VALID, "key-1")
    assert again.status_code == 202 and again.json()["id"] != first.json()["id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert registration_prune(dry_run=True)["idempotency keys"] == 1
    assert registration_prune()["idempotency keys"] == 1
    assert not IdempotencyKey.objects.exists()


@override_settings(REGISTRATION_IDEMPOTENCY_TTL=60)
def test_the_ttl_is_a_setting() -> None:
    post(VALID, "key-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert registration_prune()["idempotency keys"] == 1


def test_with_redis_down_a_repeat_still_answers_the_first_registration() -> None:
    with override_settings(RQ_QUEUES=queues_at()):
        first = post(VALID, "key-1")
        again = post(VALID, "key-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["status"] == "pending" and again.json()["id"] == first.json()["id"]
    assert Registration.objects.count() == 1


def second_request_waits() -> bool:
    """Wait until the second request is blocked on the first's key (PostgreSQL shows it; SQLite cannot)."""
    if connection.vendor != "postgresql":
        return True
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Statistics views are a snapshot per transaction, and this runs inside the first request's.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def test_two_concurrent_requests_with_one_key_create_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first request holds its transaction (key inserted, registration not yet) until the second has set
    # off and, on PostgreSQL, is seen waiting on the unique index; SQLite serialises the two on its write lock.
    # The second then finds the first's key and answers with the first's registration.
    inside, second_started = threading.Event(), threading.Event()
    create = api._create
    waited: list[bool] = []

    def held_create(payload: api.RegistrationIn) -> Registration:
        if not inside.is_set():
            inside.set()
            assert second_started.wait(10)
            waited.append(second_request_waits())
        return create(payload)

    monkeypatch.setattr(api, "_create", held_create)
    answers: dict[str, Any] = {}

    def send(name: str) -> None:
        try:
            answers[name] = post(VALID, "race-key")
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second_started.set()
    first.join(20)
    second.join(20)
    assert waited == [True]
    assert (answers["first"].status_code, answers["second"].status_code) == (202, 202)
    assert answers["first"].json()["id"] == answers["second"].json()["id"]
    assert Registration.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert get_queue(REGISTRATIONS).count == 1


def test_the_header_is_in_the_openapi_schema() -> None:
    schema = Client().get("/api/openapi.json").json()
    (parameter,) = schema["paths"][URL]["post"]["parameters"]
    assert (parameter["in"], parameter["name"], parameter["required"]) == ("header", "Idempotency-Key", False)
