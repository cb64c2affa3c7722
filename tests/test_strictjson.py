"""Request bodies are strict JSON: no duplicate keys, no NaN/Infinity, no lone surrogates."""

from __future__ import annotations

import pytest
from django.test import Client

from asyncportal import strictjson
from registration.models import Registration
from robot.models import Robot, RobotAudit
from tests.registration.factories import VALID

TOKEN = "t" * 40


def test_loads_accepts_plain_json() -> None:
    assert strictjson.loads(b'{"a": [1, 2.5, "\\u00e9", null]}') == {"a": [1, 2.5, "é", None]}


@pytest.mark.parametrize(
    "body",
    [b'{"a": 1, "a": 2}', b'{"a": NaN}', b"[Infinity]", b"-Infinity", b'{"a": "\\ud800"}', b'{"\\udfff": 1}'],
)
def test_loads_refuses_what_parsers_may_read_differently(body: bytes) -> None:
    with pytest.raises(ValueError):
        strictjson.loads(body)


@pytest.mark.django_db
def test_registration_api_refuses_a_lone_surrogate_and_stores_nothing(client: Client) -> None:
    body = (
        b'{"first_name": "\\ud800", '
        + b", ".join(f'"{key}": "{value}"'.encode() for key, value in VALID.items() if key != "first_name")
        + b"}"
    )
    response = client.post("/api/registrations/", body, content_type="application/json")
    assert response.status_code == 400
    assert not Registration.objects.exists()


@pytest.mark.django_db
def test_robot_api_refuses_a_lone_surrogate_and_changes_nothing(client: Client, settings: object) -> None:
    settings.ROBOT_API_TOKEN = TOKEN  # type: ignore[attr-defined]
    Robot.objects.create(name="demo", source_url="http://127.0.0.1:9/todos")
    response = client.put(
        "/api/robots/demo/",
        b'{"msg": "\\ud800"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 400
    assert Robot.objects.get().msg == ""
    assert not RobotAudit.objects.exists()
