from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from asyncportal.queues import REGISTRATIONS, get_queue
from registration import errors
from registration.models import Registration, Status
from tests.registration.factories import VALID, make_registration, valid


def csrf_token(client: Client, path: str = "/register/") -> str:
    response = client.get(path)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match
    return match.group(1)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/register/"])
def test_form_renders_every_field_and_a_csrf_token(path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    for field in VALID:
        assert f'name="{field}"' in html
    assert 'action="/register/"' in html
    assert csrf_token(client, path)


@pytest.mark.django_db
def test_post_without_csrf_token_is_403_and_stores_nothing() -> None:
    response = Client(enforce_csrf_checks=True).post("/register/", VALID)
    assert response.status_code == 403
    assert not Registration.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_valid_post_redirects_with_303_to_the_status_page() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/register/", {**VALID, "csrfmiddlewaretoken": csrf_token(client)})
    registration = Registration.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/register/{registration.pk}/"
    assert registration.status == Status.QUEUED
    assert get_queue(REGISTRATIONS).job_ids == [registration.job_id]


@pytest.mark.django_db
def test_post_with_errors_shows_them_by_their_fields_and_stores_nothing(client: Client) -> None:
    make_registration(login="grace", email="ada@example.com")
    response = client.post("/register/", valid(first_name="", phone="12ab"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html
    assert errors.PHONE_FORMAT in html
    assert errors.EMAIL_PENDING in html
    assert 'aria-invalid="true"' in html
    assert 'value="ada.l"' in html  # What was typed is kept.
    assert Registration.objects.count() == 1


@pytest.mark.django_db
def test_status_page_shows_job_id_queue_and_status_without_personal_data(client: Client) -> None:
    registration = make_registration(status=Status.QUEUED, job_id="f00dfeed")
    response = client.get(f"/register/{registration.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "f00dfeed" in html
    assert "<code>registrations</code>" in html
    assert 'data-field="status" role="status">queued<' in html
    assert f'data-status-url="/api/registrations/{registration.pk}/"' in html
    assert "registration/status.js" in html
    assert 'http-equiv="refresh"' in html
    for personal in VALID.values():
        assert personal not in html


@pytest.mark.django_db
def test_status_page_of_a_final_registration_shows_the_reason_and_stops_refreshing(client: Client) -> None:
    registration = make_registration(status=Status.FAILED, reason="mail server down")
    html = client.get(f"/register/{registration.pk}/").content.decode()
    assert "mail server down" in html
    assert 'http-equiv="refresh"' not in html


@pytest.mark.django_db
def test_status_page_of_an_unknown_id_is_404(client: Client) -> None:
    assert client.get(f"/register/{uuid.uuid4()}/").status_code == 404


@pytest.mark.django_db
def test_the_first_field_with_an_error_gets_the_focus_and_its_error_is_described(client: Client) -> None:
    html = client.post("/register/", valid(login="has space", phone="12ab")).content.decode()
    login = re.search(r'<input [^>]*name="login"[^>]*>', html)
    phone = re.search(r'<input [^>]*name="phone"[^>]*>', html)
    assert login and phone
    assert "autofocus" in login.group() and "autofocus" not in phone.group()
    assert 'aria-describedby="id_login_helptext id_login_error"' in login.group()
    assert '<ul class="errorlist" id="id_login_error">' in html
    assert html.count("autofocus") == 1


@pytest.mark.django_db
def test_the_blank_form_focuses_nothing(client: Client) -> None:
    assert "autofocus" not in client.get("/register/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "states"),
    [
        (Status.PENDING, ["current", "todo", "todo", "todo"]),
        (Status.PROCESSING, ["complete", "complete", "current", "todo"]),
        (Status.DONE, ["complete", "complete", "complete", "complete"]),
        (Status.REJECTED, ["complete", "complete", "failed", "todo"]),
    ],
)
def test_status_page_shows_the_steps_reached(client: Client, status: Status, states: list[str]) -> None:
    registration = make_registration(status=status)
    html = client.get(f"/register/{registration.pk}/").content.decode()
    assert re.findall(r'class="step step-(\w+)"', html) == states
    assert html.count('aria-current="step"') == (0 if status == Status.DONE else 1)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.FAILED, Status.REJECTED])
def test_a_failed_or_rejected_registration_says_so_with_its_reason(client: Client, status: Status) -> None:
    registration = make_registration(status=status, reason="the login is reserved")
    html = client.get(f"/register/{registration.pk}/").content.decode()
    assert f'data-outcome="{status}">' in html  # shown, not hidden
    assert 'data-outcome="done" hidden' in html
    assert 'data-field="reason">the login is reserved<' in html
    assert 'http-equiv="refresh"' not in html
