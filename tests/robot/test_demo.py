"""The demo robot that `make run` creates, and the deterministic demo items."""

from __future__ import annotations

import pytest

from robot.models import Robot
from robot.services import demo, robot_ensure_demo

pytestmark = pytest.mark.django_db


def test_ensure_demo_creates_a_stopped_robot_once() -> None:
    assert robot_ensure_demo(source_url="http://127.0.0.1:8000/api/demo/todos/") == "demo"
    assert robot_ensure_demo(source_url="http://127.0.0.1:8000/api/demo/todos/") == "demo"
    robot = Robot.objects.get()
    assert (robot.name, robot.state, robot.source_url) == ("demo", "stopped", "http://127.0.0.1:8000/api/demo/todos/")


def test_ensure_demo_follows_a_new_address_but_leaves_a_running_robot_alone() -> None:
    robot_ensure_demo(source_url="http://127.0.0.1:8000/api/demo/todos/")
    robot_ensure_demo(source_url="http://127.0.0.1:9000/api/demo/todos/")
    assert Robot.objects.get().source_url == "http://127.0.0.1:9000/api/demo/todos/"
    Robot.objects.update(state="running")
    robot_ensure_demo(source_url="http://elsewhere:1/api/demo/todos/")
    assert Robot.objects.get().source_url == "http://127.0.0.1:9000/api/demo/todos/"


def test_demo_items_are_deterministic_and_shaped_like_the_original() -> None:
    assert demo.demo_todo(7) == demo.demo_todo(7) != demo.demo_todo(8)
    item = demo.demo_todo(7)
    assert set(item) == {"id", "user_id", "title", "due_on", "status"} and item["id"] == 7
    assert [i["id"] for i in demo.demo_todos(limit=3, after=10)] == [11, 12, 13]
