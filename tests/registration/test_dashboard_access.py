from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

DASHBOARD_PAGES = ["/django-rq/", "/django-rq/queues/0/", "/django-rq/workers/0/"]


@pytest.fixture
def member_client(client: Client) -> Client:
    client.force_login(User.objects.create_user(username="member", password="x"))
    return client


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_sends_anonymous_visitors_to_the_admin_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_refuses_users_who_are_not_staff(member_client: Client, path: str) -> None:
    response = member_client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_dashboard_shows_the_queues_to_staff(admin_client: Client) -> None:
    response = admin_client.get("/django-rq/")
    assert response.status_code == 200
    for queue in ("registrations", "robot", "records"):
        assert queue in response.content.decode()


@override_settings(RQ_API_TOKEN="s3cret-token")
@pytest.mark.parametrize("path", ["/django-rq/metrics/", "/django-rq/stats.json"])
def test_metrics_refuse_anonymous_non_staff_and_a_wrong_token(member_client: Client, path: str) -> None:
    assert Client().get(path).status_code == 401
    assert member_client.get(path).status_code == 401
    assert Client().get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


@override_settings(RQ_API_TOKEN="")
def test_metrics_refuse_an_empty_bearer_token_when_none_is_configured() -> None:
    assert Client().get("/django-rq/metrics/", headers={"Authorization": "Bearer "}).status_code == 401


@override_settings(RQ_API_TOKEN="s3cret-token")
def test_metrics_serve_staff_and_the_bearer_token(admin_client: Client) -> None:
    assert admin_client.get("/django-rq/metrics/").status_code == 200
    response = Client().get("/django-rq/metrics/", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200
    assert "rq_workers" in response.content.decode() or "rq_jobs" in response.content.decode()
