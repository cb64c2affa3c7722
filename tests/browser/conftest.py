"""Headless Chromium (Playwright) against pytest-django's live server, real workers and the real sweeper.

The live server runs in a thread of this process on the file-backed test database, which the worker and
sweeper subprocesses share (asyncportal.settings.test). Playwright's sync API keeps an asyncio loop running in
this thread while a browser is open, so Django is told database access here is safe for as long as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright

from tests.robot.support import start_sweeper, stub, target

__all__ = ["browser", "page", "shoot", "start_sweeper", "stub", "target"]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# SCREENSHOTS=1 makes the tests save the README's pictures into docs/screenshots/ as they go.
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
FAILURES = Path(settings.BASE_DIR) / "var" / "browser-failures"


class Shoot:
    """Save a README screenshot when SCREENSHOTS=1; otherwise do nothing."""

    wanted = bool(os.environ.get("SCREENSHOTS"))

    def __call__(self, page: Page, name: str) -> None:
        if self.wanted:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("BROWSER_TESTS_REQUIRED"):
            pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            yield launched
            launched.close()
        finally:
            playwright.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context's page; a failing test leaves a screenshot whose path the report prints."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    if request.node.stash.get(FAILED, False):
        FAILURES.mkdir(parents=True, exist_ok=True)
        path = FAILURES / (re.sub(r"[^\w.-]+", "_", request.node.name) + ".png")
        opened.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failed page: {path} (at {opened.url})")
    context.close()


@pytest.fixture
def shoot() -> Shoot:
    return Shoot()
