from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client, override_settings

from asyncportal.queues import REGISTRATIONS, get_queue
from registration import errors
from registration.models import Registration, Status
from tests.registration.factories import VALID, make_registration, valid

URL = "/api/registrations/"


def post_json(client: Client, body: Any, **extra: Any) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def assert_nothing_stored() -> None:
    assert not Registration.objects.exists()
    assert get_queue(REGISTRATIONS).count == 0


@pytest.mark.django_db(transaction=True)
def test_valid_json_is_accepted_with_202_and_queued(client: Client) -> None:
    response = post_json(client, VALID)
    assert response.status_code == 202
    body = response.json()
    registration = Registration.objects.get()
    status_url = f"http://testserver/api/registrations/{registration.pk}/"
    assert body == {
        "id": str(registration.pk),
        "job_id": registration.job_id,
        "queue": "registrations",
        "status": "queued",
        "status_url": status_url,
    }
    assert response["Location"] == status_url
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]
    assert (registration.login, registration.email, registration.phone) == ("ada.l", "ada@example.com", "+380671234567")


@pytest.mark.django_db
def test_post_needs_no_csrf_token_or_session() -> None:
    response = post_json(Client(enforce_csrf_checks=True), VALID)
    assert response.status_code == 202


@pytest.mark.django_db
def test_invalid_fields_are_400_with_field_errors_and_nothing_stored(client: Client) -> None:
    response = post_json(client, valid(login="a b", email="nope", phone="12ab"))
    assert response.status_code == 400
    fields = {
        "login": [errors.LOGIN_CHARSET],
        "email": ["Enter a valid email address."],
        "phone": [errors.PHONE_FORMAT],
    }
    # One error contract (docs/api.md): "errors" as always, plus the robot API's ok/error.
    assert response.json() == {
        "ok": False,
        "error": {"code": "invalid", "message": "Some values are invalid.", "fields": fields},
        "errors": fields,
    }
    assert_nothing_stored()


@pytest.mark.django_db
def test_duplicate_login_is_400_with_a_field_error(client: Client) -> None:
    make_registration(login="ADA.L", email="other@example.com")
    response = post_json(client, VALID)
    assert response.status_code == 400
    assert response.json()["errors"] == {"login": [errors.LOGIN_TAKEN]}
    assert Registration.objects.count() == 1


@pytest.mark.django_db
def test_missing_unknown_and_non_string_keys_are_400(client: Client) -> None:
    body: dict[str, Any] = {**VALID, "phone": 380671234567, "password": "x"}
    del body["email"]
    response = post_json(client, body)
    assert response.status_code == 400
    # Every shape error in one answer, the missing field too (before: the form's check came in a second round).
    assert response.json()["errors"] == {
        "password": [errors.FIELD_UNKNOWN],
        "phone": [errors.FIELD_NOT_STRING],
        "email": ["This field is required."],
    }
    response = post_json(client, {key: value for key, value in VALID.items() if key != "email"})
    assert response.json()["errors"] == {"email": ["This field is required."]}
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe{", b"[" * 5000 + b"]" * 5000, b"NaN-ish"])
def test_malformed_json_is_400(client: Client, raw: bytes) -> None:
    # CONTENT_TYPE set directly: the test client drops content_type for an empty body.
    response = client.generic("POST", URL, raw, CONTENT_TYPE="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"__all__": [errors.BODY_MALFORMED]}
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [[VALID], "ada", 42, None])
def test_json_that_is_not_an_object_is_400(client: Client, body: Any) -> None:
    response = post_json(client, body)
    assert response.status_code == 400
    assert response.json()["errors"] == {"__all__": [errors.BODY_NOT_OBJECT]}
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_body_that_is_not_json_is_415(client: Client, content_type: str) -> None:
    response = client.post(URL, data=json.dumps(VALID), content_type=content_type)
    assert response.status_code == 415
    assert response.json()["errors"] == {"__all__": [errors.BODY_NOT_JSON]}
    assert_nothing_stored()


@pytest.mark.django_db
def test_json_with_a_charset_parameter_is_accepted(client: Client) -> None:
    response = client.post(URL, data=json.dumps(VALID), content_type="application/json; charset=utf-8")
    assert response.status_code == 202


@pytest.mark.django_db
def test_body_over_the_limit_is_413(client: Client) -> None:
    body = valid(first_name="x" * 200)
    with override_settings(REGISTRATION_MAX_BODY_BYTES=100):
        response = post_json(client, body)
    assert response.status_code == 413
    assert response.json()["errors"] == {"__all__": [errors.BODY_TOO_LARGE.format(limit=100)]}
    assert_nothing_stored()


@pytest.mark.django_db
def test_body_over_the_default_limit_is_413_not_500(client: Client) -> None:
    response = post_json(client, valid(first_name="x" * 20_000))
    assert response.status_code == 413
    response = client.post(URL, data=b"x" * (3 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert_nothing_stored()


@pytest.mark.django_db
def test_status_carries_state_and_no_personal_data(client: Client) -> None:
    registration = make_registration(status=Status.REJECTED, reason=errors.REASON_LOGIN_TAKEN, job_id="abc123")
    response = client.get(f"{URL}{registration.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": str(registration.pk),
        "status": "rejected",
        "job_id": "abc123",
        "queue": "registrations",
        "reason": errors.REASON_LOGIN_TAKEN,
        "created_at": registration.created_at.isoformat(),
        "updated_at": registration.updated_at.isoformat(),
    }
    for personal in VALID.values():
        assert personal not in response.content.decode()
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_status_of_a_pending_registration_has_an_empty_job_id(client: Client) -> None:
    registration = make_registration()
    assert client.get(f"{URL}{registration.pk}/").json()["job_id"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize("registration_id", [str(uuid.uuid4()), "1", "not-a-uuid"])
def test_status_of_an_unknown_id_is_a_json_404(client: Client, registration_id: str) -> None:
    response = client.get(f"{URL}{registration_id}/")
    assert response.status_code == 404
    assert response.json()["errors"] == {"__all__": [errors.NOT_FOUND]}


@pytest.mark.django_db
def test_wrong_methods_are_405(client: Client) -> None:
    assert client.get(URL).status_code == 405
    assert client.post(f"{URL}{uuid.uuid4()}/").status_code == 405
