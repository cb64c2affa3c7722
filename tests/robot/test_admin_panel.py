"""The robot control panel, list and admin index: what the operator sees comes from the database, fast."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from robot import panel
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.robot.support import HttpStub, make_robot

pytestmark = pytest.mark.django_db(transaction=True)


def redis_at(url: str) -> Any:
    return override_settings(RQ_QUEUES={name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()})


def page(client: Client, robot: Robot) -> str:
    return client.get(reverse("admin:robot_robot_change", args=[robot.pk])).content.decode()


def fragment(client: Client, robot: Robot) -> str:
    return client.get(reverse("admin:robot_robot_panel", args=[robot.pk])).content.decode()


def finished_cycle(robot: Robot, number: int, seconds: float, **counts: Any) -> RobotCycle:
    end = timezone.now() - timedelta(minutes=10 - number)
    return RobotCycle.objects.create(
        robot=robot, number=number, started_at=end - timedelta(seconds=seconds), finished_at=end, **counts
    )


def test_a_running_robot_offers_stop_and_counts_down_to_its_next_cycle(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    next_run = timezone.now() + timedelta(seconds=30)
    Robot.objects.filter(pk=robot.pk).update(state="running", chain_token="robot-1-x", next_run_at=next_run)
    html = fragment(boss, robot)
    assert 'robot-badge-running" data-field="state">running<' in html
    assert 'data-operation="stop"' in html and 'data-operation="stop-now"' in html
    assert 'data-operation="start"' not in html and 'data-operation="run-once"' not in html
    assert 'data-countdown="30"' in html or 'data-countdown="29"' in html


def test_a_stopped_robot_offers_start_and_run_once_and_no_countdown(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    html = fragment(boss, robot)
    assert 'robot-badge-stopped" data-field="state">stopped<' in html
    assert 'data-operation="start"' in html and 'data-operation="run-once"' in html
    assert 'data-operation="stop"' not in html and "data-countdown" not in html


def test_a_paused_robot_shows_why_and_offers_start(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    robot.state, robot.paused_reason = Robot.State.PAUSED, "3 cycles failed in a row"
    context = panel.panel(robot, ("start", "stop", "run-once"))
    assert (context["phase"], context["paused_reason"]) == ("paused", "3 cycles failed in a row")
    assert context["operations"] == ["start", "run-once"]


def test_the_running_cycle_shows_live_progress_of_its_fetched_records(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    started = timezone.now() - timedelta(seconds=2)
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=started, fanned_out_at=started, fetched=5)
    statuses = ["done", "done", "failed", "queued"]
    for index, status in enumerate(statuses):
        ProcessedRecord.objects.create(robot=robot, cycle=cycle, source_id=str(index), payload={}, status=status)
    RobotCycle.objects.filter(pk=cycle.pk).update(duplicates=1)
    html = fragment(boss, robot)
    assert 'aria-valuemax="5" aria-valuenow="4"' in html
    assert '<span data-field="done">2</span> done, 1 failed,' in html
    assert "1 duplicates, 0 cancelled of 5 fetched" in html
    assert 'class="robot-bar-done" style="width: 40.0%"' in html
    assert "Cycle 1 is running" in html


def test_the_last_error_is_a_sentence_saying_what_the_source_answered(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    cycle = finished_cycle(robot, 1, 0.5, status="failed")
    RobotCycle.objects.filter(pk=cycle.pk).update(error_code="fetch_http_status", error="the source answered HTTP 503")
    html = fragment(boss, robot)
    assert "<strong>Last error:</strong> The source refused the fetch: the source answered HTTP 503 — cycle 1, " in html
    assert re.search(r"\(9 min \d+ s ago\)\.</p>", html)  # finished_cycle(number=1) ended 9 minutes ago


@pytest.mark.parametrize(
    ("code", "lead"),
    [
        ("fetch_timeout", "The source did not answer in time: boom — cycle 1, "),
        ("worker_lost", "The worker running the cycle was lost: boom — cycle 1, "),
        ("", "Cycle 1 ended failed: boom — cycle 1, "),
    ],
)
def test_every_error_code_reads_as_a_sentence(stub: HttpStub, code: str, lead: str) -> None:
    cycle = finished_cycle(make_robot(source_url=stub.url), 1, 1.0, status="failed", error_code=code, error="boom")
    sentence = panel.error_sentence(cycle, timezone.now())
    assert sentence.startswith(lead) and sentence.endswith(" ago).")  # "… — cycle 1, 14:02:11 (9 min 0 s ago)."


def test_recent_cycles_are_charted_and_listed_with_durations(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    finished_cycle(robot, 1, 4.0, status="finished", fetched=5, done=3, failed=1, duplicates=1)
    finished_cycle(robot, 2, 75, status="finished", fetched=2, done=2)
    html = fragment(boss, robot)
    assert '<svg class="robot-chart"' in html
    assert "<title>cycle 1: 3 done</title>" in html and "<title>cycle 1: 1 failed</title>" in html
    assert "<title>cycle 2: 2 done</title>" in html and "<title>cycle 2: 75.0 s</title></circle>" in html
    assert "<td>4.0 s</td>" in html and "<td>1 min 15 s</td>" in html
    assert "<td>1.0</td>" in html  # cycle 1: (3 done + 1 failed) / 4 s


def test_the_chart_leaves_out_the_running_cycle(stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    assert panel.panel(robot, ())["chart"] == ""
    finished = finished_cycle(robot, 0, 1.0, status="finished", fetched=1, done=1)
    assert "cycle 0: 1 done" in panel.panel(robot, ())["chart"] and finished.number == 0


def test_the_audit_trail_says_who_did_what_from_where(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    boss.post(reverse("admin:robot_robot_control", args=[robot.pk, "start"]))
    html = fragment(boss, robot)
    assert "<td>boss</td><td>Start</td>\n        <td>Admin</td><td>127.0.0.1</td>" in html


def test_the_change_page_embeds_the_panel_and_its_script(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    html = page(boss, robot)
    assert f'data-panel-url="{reverse("admin:robot_robot_panel", args=[robot.pk])}"' in html
    assert 'data-operation="start"' in html and "robot/panel.js" in html and "robot/panel.css" in html
    assert "<html" not in fragment(boss, robot)


def test_the_panel_fragment_is_for_staff_only_and_never_cached(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    url = reverse("admin:robot_robot_panel", args=[robot.pk])
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert "no-store" in boss.get(url)["Cache-Control"]
    assert boss.get(reverse("admin:robot_robot_panel", args=[robot.pk + 100])).status_code == 404


def test_queue_figures_show_unknown_at_once_when_redis_hangs(boss: Client, stub: HttpStub, silent_redis: str) -> None:
    robot = make_robot(source_url=stub.url)
    with redis_at(silent_redis):
        began = time.monotonic()
        html = fragment(boss, robot)
        index = boss.get(reverse("admin:index")).content.decode()
        elapsed = time.monotonic() - began
    assert "Queues: unknown (Redis did not answer in time)." in html
    assert "Queue lengths and workers: unknown" in index
    assert elapsed < 2.0


def test_queue_figures_come_from_redis_when_it_answers(boss: Client, stub: HttpStub) -> None:
    robot = make_robot(source_url=stub.url)
    html = fragment(boss, robot)
    assert "<strong>robot</strong> 0 waiting, 0 running,\n    0 failed jobs, 0 workers;" in html
    index = boss.get(reverse("admin:index")).content.decode()
    assert '<tr><th scope="row">records</th><td>0</td>' in index
    assert f'href="{reverse("django_rq:home")}"' in index


def test_the_list_shows_state_last_cycle_and_rate_in_constant_queries(boss: Client, stub: HttpStub) -> None:
    robot = make_robot("a", source_url=stub.url)
    finished_cycle(robot, 1, 4.0, status="finished", fetched=8, done=6, failed=2)
    Robot.objects.filter(pk=robot.pk).update(
        state="running", chain_token="robot-1-x", next_run_at=timezone.now() + timedelta(seconds=90)
    )
    with CaptureQueriesContext(connection) as one:
        html = boss.get("/admin/robot/robot/").content.decode()
    assert 'robot-badge-running">running<' in html
    assert "finished: 6/8 done, 2 failed" in html and '<td class="field-last_rate">2.0</td>' in html
    assert "in 1 min 29 s" in html or "in 1 min 30 s" in html
    for name in "bcde":
        finished_cycle(make_robot(name, source_url=stub.url), 1, 1.0, status="finished")
    with CaptureQueriesContext(connection) as five:
        boss.get("/admin/robot/robot/")
    assert len(five.captured_queries) == len(one.captured_queries)


def test_the_list_filters_by_state(boss: Client, stub: HttpStub) -> None:
    make_robot("on", source_url=stub.url, state="running")
    make_robot("off", source_url=stub.url)
    html = boss.get("/admin/robot/robot/?state__exact=running").content.decode()
    assert ">on</a>" in html and ">off</a>" not in html
