"""The public demo feed: deterministic, endless, shaped like the original's todo list."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings


def test_demo_feed_serves_the_ids_after_the_cursor() -> None:
    body = Client().get("/api/demo/todos/?limit=3&after=40").json()
    assert [item["id"] for item in body] == [41, 42, 43]
    assert set(body[0]) == {"id", "user_id", "title", "due_on", "status"}
    assert body[0]["status"] in {"pending", "completed"}


def test_demo_feed_is_deterministic_and_defaults_to_twenty_from_the_start() -> None:
    first = Client().get("/api/demo/todos/").json()
    again = Client().get("/api/demo/todos/?limit=20&after=0").json()
    assert first == again and [item["id"] for item in first] == list(range(1, 21))


def test_demo_feed_is_endless_and_serves_at_most_its_cap_per_call() -> None:
    body = Client().get("/api/demo/todos/?limit=10000&after=999999999").json()
    assert len(body) == 1000 and body[-1]["id"] == 1_000_000_999


@override_settings(ROBOT_DEMO_FEED_MAX_ITEMS=50)
def test_demo_feed_cap_is_a_setting_and_a_larger_limit_gets_a_shorter_page() -> None:
    assert [item["id"] for item in Client().get("/api/demo/todos/?limit=51&after=7").json()] == list(range(8, 58))
    assert len(Client().get("/api/demo/todos/?limit=49").json()) == 49


@override_settings(ROBOT_DEMO_FEED=False)
def test_demo_feed_is_a_json_404_where_the_settings_turn_it_off() -> None:
    response = Client().get("/api/demo/todos/?limit=3")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=abc", "after=-1", "after=1.5", "limit=-3"])
def test_demo_feed_rejects_bad_parameters_with_400(query: str) -> None:
    response = Client().get(f"/api/demo/todos/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


HOSTILE_QUERY_VALUES = ["%C2%B2", "%D9%A3", "-1", "1e9", "9" * 5000, "99999999999999999999", "%ED%A0%80", "%F0", "%20"]


@pytest.mark.parametrize("name", ["limit", "after"])
@pytest.mark.parametrize("value", HOSTILE_QUERY_VALUES)
def test_demo_feed_answers_hostile_numbers_with_400_json_never_500(name: str, value: str) -> None:
    response = Client().get(f"/api/demo/todos/?{name}={value}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {name: [response.json()["error"]["fields"][name][0]]}


def test_demo_feed_treats_an_empty_value_as_the_default() -> None:
    assert len(Client().get("/api/demo/todos/?limit=&after=").json()) == 20


def test_demo_feed_is_read_only() -> None:
    assert Client().post("/api/demo/todos/").status_code == 405
