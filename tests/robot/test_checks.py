"""Configuration mistakes surface as system checks with stable ids."""

from __future__ import annotations

import pytest
from django.test import override_settings

from robot.checks import robot_settings_check, sqlite_problems


def ids() -> set[str]:
    return {message.id or "" for message in robot_settings_check()}


def test_default_configuration_passes() -> None:
    assert ids() == set()


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"ROBOT_API_TOKEN": "short", "DEBUG": False}, "robot.E001"),
        ({"WORKERS": 0}, "robot.E002"),
        ({"ROBOT_FETCH_TIMEOUT": 0}, "robot.E003"),
        ({"ROBOT_POST_TIMEOUT": 0}, "robot.E003"),
        ({"ROBOT_FETCH_MAX_BYTES": 10}, "robot.E004"),
        ({"ROBOT_RECORD_RETRIES": -1}, "robot.E005"),
        ({"DEFAULT_ROBOT": "not a slug"}, "robot.E006"),
        ({"ROBOT_DEMO_FEED_MAX_ITEMS": 0}, "robot.E009"),
        ({"ROBOT_DELIVERY_CONCURRENCY": 0}, "robot.E010"),
        ({"ROBOT_DELIVERY_CONCURRENCY": 65}, "robot.E010"),
        ({"RQ_JOB_TIMEOUT": 20}, "robot.W001"),
    ],
)
def test_bad_setting_is_reported(overrides: dict[str, object], check_id: str) -> None:
    with override_settings(**overrides):
        assert check_id in ids()


def test_a_short_token_is_tolerated_while_debugging() -> None:
    with override_settings(ROBOT_API_TOKEN="short", DEBUG=True):
        assert ids() == set()


def test_an_sqlite_without_returning_is_refused() -> None:
    assert [problem.id for problem in sqlite_problems((3, 34, 1), {"sqlite"})] == ["robot.E011"]
    assert sqlite_problems((3, 35, 0), {"sqlite"}) == []


def test_an_old_sqlite_library_does_not_matter_when_no_database_is_sqlite() -> None:
    assert sqlite_problems((3, 34, 1), {"postgresql"}) == []
