"""Robot metrics for Prometheus: auth, names and values after real cycles, few queries, and the alert rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import DjangoAssertNumQueries

from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.robot.support import HttpStub, Reply, make_robot

URL = "/metrics/robots/"
TOKEN = "m" * 40
BEARER: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
RULES = Path(settings.BASE_DIR) / "deploy" / "prometheus" / "robot-alerts.yaml"
ACTOR = services.Actor(source="api", label="tester")
pytestmark = [pytest.mark.django_db(transaction=True)]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def metrics_token() -> Iterator[None]:
    with override_settings(RQ_API_TOKEN=TOKEN):
        yield


def scrape(client: Client | None = None, **extra: Any) -> Samples:
    response = (client or Client()).get(URL, **(extra or BEARER))
    assert response.status_code == 200, response.content
    families = text_string_to_metric_families(response.content.decode())
    return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def test_metrics_refuse_anonymous_non_staff_and_wrong_or_disabled_tokens() -> None:
    member = Client()
    member.force_login(User.objects.create_user("member", password="pw"))
    assert Client().get(URL).status_code == 401
    assert member.get(URL).status_code == 403
    assert Client().get(URL, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 401
    with override_settings(RQ_API_TOKEN=""):
        assert Client().get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert Client().get(URL)["WWW-Authenticate"].startswith("Bearer")


def test_metrics_serve_staff_and_the_bearer_token() -> None:
    staff = Client()
    staff.force_login(User.objects.create_user("staff", password="pw", is_staff=True))
    assert staff.get(URL).status_code == 200
    response = Client().get(URL, **BEARER)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")


def test_metrics_after_cycles_count_cycles_records_durations_and_lateness(stub: HttpStub) -> None:
    replies = iter([Reply(body=[{"id": 1}, {"id": 2}, {"id": 2}]), Reply(status=500), Reply(body=[{"id": 3}])])
    stub.handler = lambda seen: next(replies)
    robot = make_robot(source_url=stub.url, batch_size=5, interval=7)
    services.robot_start(name="r1", actor=ACTOR)
    for _ in range(2):
        robot.refresh_from_db()
        services.cycle_run(robot_id=robot.pk, token=robot.chain_token)
        pairs = ProcessedRecord.objects.filter(status="queued").values_list("pk", "dispatch")
        services.records_process(pairs=list(pairs))
    robot.refresh_from_db()
    services.cycle_run(robot_id=robot.pk, token=robot.chain_token)  # cycle 3 stays open: one record in flight
    samples = scrape()
    assert value(samples, "asyncportal_robot_cycles_total", robot="r1", status="finished") == 1
    assert value(samples, "asyncportal_robot_cycles_total", robot="r1", status="failed") == 1
    assert value(samples, "asyncportal_robot_records_total", robot="r1", outcome="done") == 2
    assert value(samples, "asyncportal_robot_records_total", robot="r1", outcome="duplicate") == 1
    assert value(samples, "asyncportal_robot_records_total", robot="r1", outcome="failed") == 0
    assert value(samples, "asyncportal_robot_fetched_records_total", robot="r1") == 3
    assert value(samples, "asyncportal_robot_records_in_flight", robot="r1") == 1
    assert value(samples, "asyncportal_robot_cycle_duration_seconds_count", robot="r1") == 2
    assert value(samples, "asyncportal_robot_cycle_duration_seconds_bucket", robot="r1", le="+Inf") == 2
    assert value(samples, "asyncportal_robot_cycle_duration_seconds_bucket", robot="r1", le="10.0") == 2
    assert 0 < value(samples, "asyncportal_robot_cycle_duration_seconds_sum", robot="r1") < 10
    assert value(samples, "asyncportal_robot_state", robot="r1", state="running") == 1
    assert value(samples, "asyncportal_robot_state", robot="r1", state="paused") == 0
    assert value(samples, "asyncportal_robot_interval_seconds", robot="r1") == 7
    assert value(samples, "asyncportal_robot_failed_cycles_in_a_row", robot="r1") == 1
    last = RobotCycle.objects.get(robot=robot, number=2)
    assert value(samples, "asyncportal_robot_last_cycle_duration_seconds", robot="r1") == pytest.approx(last.duration)
    assert last.finished_at is not None
    since = value(samples, "asyncportal_robot_seconds_since_last_cycle_end", robot="r1")
    assert 0 <= since <= (timezone.now() - last.finished_at).total_seconds()


def test_duration_buckets_are_cumulative(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    now = timezone.now()
    for number, seconds in enumerate((0.05, 3, 45, 7200), start=1):
        started = now - timedelta(seconds=seconds)
        RobotCycle.objects.create(robot=robot, number=number, started_at=started, finished_at=now, status="finished")
    samples = scrape()
    buckets = {"0.1": 1, "2.5": 1, "5.0": 2, "60.0": 3, "3600.0": 3, "+Inf": 4}
    for le, count in buckets.items():
        assert value(samples, "asyncportal_robot_cycle_duration_seconds_bucket", robot="r1", le=le) == count, le
    assert value(samples, "asyncportal_robot_cycle_duration_seconds_sum", robot="r1") == pytest.approx(7248.05)


def test_a_scrape_costs_four_queries_however_many_robots(
    stub: HttpStub, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    now = timezone.now()
    for name in ("a", "b", "c"):
        robot = make_robot(name, source_url=stub.url)
        RobotCycle.objects.create(robot=robot, number=1, started_at=now, finished_at=now, status="finished")
    with django_assert_num_queries(4):
        samples = scrape()
    assert {labels for name, labels in samples if name == "asyncportal_robot_interval_seconds"} == {
        frozenset({("robot", name)}) for name in ("a", "b", "c")
    }


def test_a_robot_without_a_finished_cycle_exports_no_lateness(stub: HttpStub) -> None:
    Robot.objects.create(name="fresh", source_url=stub.url, state="running")
    names = {name for name, _ in scrape()}
    assert "asyncportal_robot_interval_seconds" in names
    assert "asyncportal_robot_seconds_since_last_cycle_end" not in names


def test_the_alert_rules_are_prometheus_rule_groups_over_exported_metrics(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now(), finished_at=timezone.now())
    exported = {name for name, _ in scrape()}
    document = yaml.safe_load(RULES.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {group["name"] for group in document["groups"]} == {"asyncportal-robots"}
    assert {rule["alert"] for rule in rules} >= {"RobotLate", "RobotRecordFailureRate", "RobotPaused"}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"]
        referenced = set(re.findall(r"\basyncportal_robot_[a-z_]+", rule["expr"]))
        assert referenced and referenced <= exported, (rule["alert"], referenced - exported)
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    late = next(rule["expr"] for rule in rules if rule["alert"] == "RobotLate")
    assert "2 * asyncportal_robot_interval_seconds + asyncportal_robot_last_cycle_duration_seconds" in late
