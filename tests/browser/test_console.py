"""What a person sees in a real browser: the submitter's form and status page, the operator's control panel."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from asyncportal.queues import RECORDS, REGISTRATIONS, ROBOT
from registration import errors
from robot.models import Robot
from robot.services.demo import robot_ensure_demo
from tests.browser.conftest import Shoot
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.registration.factories import VALID
from tests.robot.support import HttpStub, IdempotentTarget, Reply, StartSweeper

pytestmark = pytest.mark.slow
PASSWORD = "browser-pw"


def log_in(page: Page, live_server: LiveServer) -> None:
    User.objects.create_superuser("operator", password=PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Site administration")).to_be_visible()


def done_count(page: Page) -> int:
    found = page.locator('[data-field="done"]')
    return int(found.inner_text()) if found.count() else -1


def test_a_submission_reaches_done_on_its_status_page_without_a_reload(
    page: Page, live_server: LiveServer, start_worker: StartWorker, shoot: Shoot
) -> None:
    start_worker(REGISTRATIONS)
    page.goto(f"{live_server.url}/register/")
    for name, value in {**VALID, "login": "ada lovelace", "phone": "12ab"}.items():
        page.locator(f'[name="{name}"]').fill(value)
    page.get_by_role("button", name="Register").click()
    # Refused by the server: what was typed stays, the first field in error has the focus, its error is read with it.
    expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below.")
    login = page.get_by_label("Login")
    expect(login).to_be_focused()
    expect(login).to_have_value("ada lovelace")
    expect(login).to_have_accessible_description(re.compile("Letters, digits.*" + re.escape(errors.LOGIN_CHARSET)))
    expect(page.get_by_label("Phone")).to_have_value("12ab")
    shoot(page, "form")
    page.get_by_label("Login").fill(VALID["login"])
    page.get_by_label("Phone").fill(VALID["phone"])
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Registration received")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    expect(page.locator('[data-field="status"]')).to_have_text("done", timeout=30_000)
    expect(page.locator('[data-step="done"]')).to_have_class("step step-complete")
    expect(page.get_by_text("Your account is ready")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    shoot(page, "status")


def test_the_operator_starts_the_demo_robot_watches_it_work_and_stops_it(
    page: Page,
    live_server: LiveServer,
    start_worker: StartWorker,
    start_sweeper: StartSweeper,
    target: HttpStub,
    shoot: Shoot,
) -> None:
    # A target that takes a moment per record, so the progress bar has time to be seen moving.
    target.handler = IdempotentTarget(delay=0.15)
    name = robot_ensure_demo(source_url=live_server.url + reverse("api:demo-todos"))
    Robot.objects.filter(name=name).update(batch_size=20, chunk_size=2, interval=6, target_url=target.url)
    start_worker(ROBOT, RECORDS)
    start_sweeper()
    log_in(page, live_server)
    expect(page.locator("#queue-module")).to_contain_text("records")
    shoot(page, "admin-index")
    page.get_by_role("link", name="Robots").click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator('[data-field="state"]')).to_have_text("stopped")
    expect(page.locator('[data-operation="stop"]')).to_have_count(0)

    page.locator('[data-operation="start"]').click()
    expect(page.get_by_text(f"{name}: started.")).to_be_visible()
    expect(page.locator('[data-field="state"]')).to_have_text("running")
    expect(page.locator('[data-operation="start"]')).to_have_count(0)
    page.evaluate("window.notReloaded = true")
    first = wait_for(lambda: done_count(page) > 0 and done_count(page), timeout=30, message="records done")
    wait_for(lambda: done_count(page) > first, timeout=30, message="the done count to grow")
    expect(page.locator("svg.robot-chart title").first).to_contain_text("cycle 1:", timeout=30_000)
    expect(page.locator("[data-countdown]")).to_be_visible(timeout=30_000)
    if shoot.wanted:  # a chart of a few cycles and one under way make a better picture
        expect(page.get_by_text("Cycle 3 is running")).to_be_visible(timeout=60_000)
        wait_for(lambda: done_count(page) > 5, timeout=30, message="cycle 3 under way")
        shoot(page, "panel")
    expect(page.locator('[data-field="audit"]')).to_contain_text("operator")
    assert page.evaluate("window.notReloaded") is True

    page.locator('[data-operation="stop"]').click()
    expect(page.get_by_text(f"{name}: stopped.")).to_be_visible()
    expect(page.locator('[data-field="state"]')).to_have_text("stopped")
    expect(page.locator("[data-countdown]")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/robot/robot/")
    expect(page.locator(".robot-badge-stopped")).to_have_text("stopped")
    expect(page.locator(".field-last_cycle")).to_contain_text(re.compile(r"finished: \d+/20 done"))
    shoot(page, "robots")


def test_a_robot_whose_source_fails_pauses_itself_and_the_panel_says_why(
    page: Page, live_server: LiveServer, start_worker: StartWorker, start_sweeper: StartSweeper, stub: HttpStub
) -> None:
    stub.handler = lambda seen: Reply(status=503, body={"error": "down"})
    robot = Robot.objects.create(name="flaky", source_url=stub.url, interval=1, max_failed_cycles=2)
    start_worker(ROBOT, RECORDS)
    start_sweeper()
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('admin:robot_robot_change', args=[robot.pk])}")
    page.locator('[data-operation="start"]').click()
    expect(page.locator('[data-field="state"]')).to_have_text("paused", timeout=30_000)
    expect(page.locator('[data-field="paused"]')).to_be_visible()
    expect(page.locator('[data-field="error"]')).to_contain_text("the source answered HTTP 503")
    expect(page.locator('[data-operation="start"]')).to_be_visible()
