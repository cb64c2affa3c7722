"""Registration traffic against a running portal: paced form and API submissions, each answer timed."""

from __future__ import annotations

import itertools
import re
import statistics
import threading
import time
from dataclasses import dataclass

import requests

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STATUS_PATH = re.compile(r"/register/([0-9a-f-]{36})/$")
TIMEOUT = 10.0


@dataclass(frozen=True)
class Answer:
    """One submission: its HTTP status (0 when none came), the slowest of its requests, the stored id."""

    sent_at: float
    status: int
    latency: float
    registration_id: str | None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


class Traffic:
    """Client threads that submit registrations at ``per_thread`` per second each, alternately form and API."""

    def __init__(self, base_url: str, *, threads: int = 3, per_thread: float = 4.5, prefix: str = "t") -> None:
        self.base_url = base_url
        self.interval = 1 / per_thread
        self.prefix = prefix
        self.answers: list[Answer] = []
        self._numbers = itertools.count()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.started_at = self.stopped_at = 0.0

    def __enter__(self) -> Traffic:
        self.started_at = time.time()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)
        self.stopped_at = time.time()

    @property
    def rate(self) -> float:
        return len(self.answers) / max(self.stopped_at - self.started_at, 1e-9)

    def _run(self) -> None:
        session = requests.Session()
        next_at = time.monotonic()
        while not self._stop.is_set():
            number = next(self._numbers)
            submit = self._form if number % 2 else self._api
            self.answers.append(submit(session, f"{self.prefix}{number}"))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _fields(self, login: str) -> dict[str, str]:
        return {
            "first_name": "Ada",
            "last_name": "Outage",
            "login": login,
            "email": f"{login}@example.com",
            "phone": "+380671234567",
        }

    def _api(self, session: requests.Session, login: str) -> Answer:
        sent_at = started = time.time()
        try:
            response = session.post(f"{self.base_url}/api/registrations/", json=self._fields(login), timeout=TIMEOUT)
        except requests.RequestException:
            return Answer(sent_at, 0, time.time() - started, None)
        registration_id = response.json().get("id") if response.status_code == 202 else None
        return Answer(sent_at, response.status_code, time.time() - started, registration_id)

    def _form(self, session: requests.Session, login: str) -> Answer:
        sent_at = time.time()
        latency = 0.0
        try:
            started = time.time()
            page = session.get(f"{self.base_url}/register/", timeout=TIMEOUT)
            latency = time.time() - started
            token = CSRF_INPUT.search(page.text)
            if page.status_code != 200 or token is None:
                return Answer(sent_at, page.status_code, latency, None)
            started = time.time()
            response = session.post(
                f"{self.base_url}/register/",
                data={**self._fields(login), "csrfmiddlewaretoken": token.group(1)},
                headers={"Referer": f"{self.base_url}/register/"},
                allow_redirects=False,
                timeout=TIMEOUT,
            )
        except requests.RequestException:
            return Answer(sent_at, 0, max(latency, time.time() - sent_at), None)
        latency = max(latency, time.time() - started)
        found = STATUS_PATH.search(response.headers.get("Location", ""))
        return Answer(sent_at, response.status_code, latency, found.group(1) if found else None)
