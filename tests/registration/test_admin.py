from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from asyncportal.queues import REGISTRATIONS, get_queue
from registration.models import Registration, Status
from tests.registration.factories import make_registration

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/registration/registration/"


def test_changelist_filters_by_status_and_searches(admin_client: Client) -> None:
    make_registration(status=Status.FAILED)
    make_registration(login="grace", email="grace@example.com", last_name="Hopper", status=Status.DONE)
    response = admin_client.get(CHANGELIST, {"status__exact": "failed"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("login", flat=True)) == ["ada.l"]
    response = admin_client.get(CHANGELIST, {"q": "hopper"})
    assert list(response.context["cl"].result_list.values_list("login", flat=True)) == ["grace"]


def test_registrations_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_retry_action_requeues_failed_and_rejected_and_skips_the_rest(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    failed = make_registration(status=Status.FAILED, reason="mail server down")
    rejected = make_registration(login="grace", email="grace@example.com", status=Status.REJECTED)
    done = make_registration(login="linus", email="linus@example.com", status=Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "retry_registrations", "_selected_action": [failed.pk, rejected.pk, done.pk]},
            follow=True,
        )
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Retried 2 registration(s).", "Skipped 1 that were not failed or rejected."]
    statuses = dict(Registration.objects.values_list("login", "status"))
    assert statuses == {"ada.l": "queued", "grace": "queued", "linus": "done"}
    assert get_queue(REGISTRATIONS).count == 2


def test_change_page_shows_a_registration_read_only(admin_client: Client) -> None:
    registration = make_registration(status=Status.FAILED, reason="mail server down")
    response = admin_client.get(f"{CHANGELIST}{registration.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "mail server down" in html
    assert 'name="login"' not in html
