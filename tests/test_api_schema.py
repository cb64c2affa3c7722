"""The declared API's description: the schema is public and committed; the docs page is staff-only and offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from asyncportal import apierrors
from asyncportal.urls import api

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
REGENERATE = (
    "python manage.py export_openapi_schema --api asyncportal.urls.api --indent 2 --sorted --output docs/openapi.json"
)


def test_the_committed_schema_is_the_served_one() -> None:
    # API changes show up in review as a diff of docs/openapi.json.
    assert json.loads(COMMITTED.read_text()) == json.loads(json.dumps(api.get_openapi_schema())), (
        f"The API changed: regenerate the committed schema with `{REGENERATE}`"
    )


@pytest.mark.django_db
def test_the_schema_is_public_json(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.django_db
def test_the_docs_page_sends_anonymous_and_members_to_the_login(client: Client) -> None:
    assert client.get("/api/docs")["Location"].startswith("/admin/login/")
    client.force_login(User.objects.create_user("member", password="pw"))
    assert client.get("/api/docs")["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_the_docs_page_loads_only_local_static_files(client: Client) -> None:
    client.force_login(User.objects.create_user("staff", password="pw", is_staff=True))
    response = client.get("/api/docs")
    html = response.content.decode()
    assert response.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls and all(url.startswith("/static/ninja/") for url in urls), urls
    assert "cdn" not in html.lower() and "https://" not in html
    settings_json = re.search(r'id="swagger-settings">\s*(\{.*?\})\s*</script>', html, re.S)
    assert settings_json is not None
    swagger = json.loads(settings_json.group(1))
    # No validator badge: Swagger UI would send the schema to validator.swagger.io.
    assert (swagger["validatorUrl"], swagger["url"]) == (None, "/api/openapi.json")


@pytest.mark.django_db
@pytest.mark.parametrize("asset", ["swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"])
def test_the_docs_assets_are_served_by_the_site(client: Client, asset: str) -> None:
    response = client.get(f"/static/ninja/{asset}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    assert b"https://cdn" not in body


@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/registrations/x/y/z/", "/api/robots/1/nope/"])
def test_an_unknown_api_path_answers_404_with_the_api_error_body(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == {"code": "not_found", "message": apierrors.NO_SUCH_PATH}


def test_an_unknown_page_outside_the_api_keeps_the_html_404(client: Client) -> None:
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
