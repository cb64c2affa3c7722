"""Renaming ``records`` to ``batch_size`` and ``job_id`` to ``chain_token`` keeps every robot's values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("robot", "0006_dashboard_permissions")]
AFTER = [("robot", "0007_clear_names")]


def historical_robot(apps: Apps) -> Any:
    """The Robot model of a past state (Any: its fields are not the current model's)."""
    return apps.get_model("robot", "Robot")


def migrate(targets: list[tuple[str, str]]) -> Apps:
    """Migrate the test database to ``targets``; return the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest() -> Iterator[None]:
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.usefixtures("back_to_latest")
def test_the_rename_keeps_batch_sizes_and_chain_tokens() -> None:
    old = historical_robot(migrate(BEFORE))
    old.objects.create(name="kept", source_url="https://s.example/", records=37, job_id="robot-1-abc")
    old.objects.create(name="idle", source_url="https://s.example/", records=1, job_id="")

    new = historical_robot(migrate(AFTER))

    assert sorted(new.objects.values_list("name", "batch_size", "chain_token")) == [
        ("idle", 1, ""),
        ("kept", 37, "robot-1-abc"),
    ]


@pytest.mark.usefixtures("back_to_latest")
def test_the_batch_size_range_is_still_enforced_by_the_database_after_the_rename() -> None:
    migrate(BEFORE)
    robot = historical_robot(migrate(AFTER))
    robot.objects.create(name="r1", source_url="https://s.example/", batch_size=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        robot.objects.filter(name="r1").update(batch_size=10_001)
    assert robot.objects.get(name="r1").batch_size == 5


@pytest.mark.usefixtures("back_to_latest")
def test_migrating_back_restores_the_old_names_with_their_values() -> None:
    new = historical_robot(migrate(AFTER))
    new.objects.create(name="r1", source_url="https://s.example/", batch_size=12, chain_token="robot-1-x")

    old = historical_robot(migrate(BEFORE))

    assert list(old.objects.values_list("records", "job_id")) == [(12, "robot-1-x")]
