"""Generated requests (10,000 on SQLite, 1,000 on PostgreSQL) never get a 5xx and never store bad input.

Every request is checked against the real database and the real test Redis: a refused one (4xx) leaves the
rows, the robot rows, every queue of RQ_QUEUES and the robot due set exactly as they were; an accepted
registration is stored once and its job enqueued once. Valid registrations are generated too (a tenth of the
registration requests at least must be stored), so validation is exercised, not only parsing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rq import Queue

from asyncportal import queues
from registration.models import Registration
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services.queueing import DUE_KEY
from tests.security.strategies import Case, RobotCase, form_cases, registration_api_cases, robot_cases

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "t" * 40
# Requests per target on SQLite (10,000 in all); PostgreSQL runs a tenth, the full count runs once per CI run.
EXAMPLES = {"registration_api": 4000, "form": 3000, "robot_api": 3000}
VALID_SHARE = 0.10
ROBOT_FIELDS = (
    "name",
    "state",
    "chain_token",
    "msg",
    "source_url",
    "target_url",
    "batch_size",
    "chunk_size",
    "interval",
)


def examples(target: str) -> int:
    full = EXAMPLES[target]
    return full if connection.vendor == "sqlite" else full // 10


def fuzz_settings(target: str) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples(target),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(autouse=True)
def _portal_settings(settings: Any) -> None:
    settings.REGISTRATION_RATE_LIMIT = "0"
    settings.ROBOT_API_TOKEN = TOKEN


def redis_counts() -> tuple[dict[str, int], int]:
    """Return the length of every queue in RQ_QUEUES and of the robot due set, in one round trip."""
    names = list(django_settings.RQ_QUEUES)
    pipeline = queues.get_connection().pipeline(transaction=False)
    for name in names:
        pipeline.llen(Queue.redis_queue_namespace_prefix + name)
    pipeline.zcard(DUE_KEY)
    *lengths, due = pipeline.execute()
    return dict(zip(names, lengths, strict=True)), due


def snapshot() -> dict[str, Any]:
    """What a refused request must leave unchanged."""
    lengths, due = redis_counts()
    return {
        "registrations": Registration.objects.count(),
        "robots": list(Robot.objects.order_by("pk").values_list(*ROBOT_FIELDS)),
        "cycles": RobotCycle.objects.count(),
        "records": ProcessedRecord.objects.count(),
        "audits": RobotAudit.objects.count(),
        "queues": lengths,
        "due": due,
    }


def check_registration(client: Client, url: str, case: Case, stats: Counter[str]) -> None:
    before = snapshot()
    response = client.generic("POST", url, case.body, case.content_type)
    status = response.status_code
    assert status < 500, (status, case)
    after = snapshot()
    stats["requests"] += 1
    if status in (202, 303):
        registration = Registration.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])
        assert after["registrations"] == before["registrations"] + 1, case
        assert after["queues"] == {**before["queues"], "registrations": before["queues"]["registrations"] + 1}, case
        key = Queue.redis_queue_namespace_prefix + "registrations"
        assert queues.get_connection().lpos(key, registration.job_id) is not None, case
        stats["stored"] += 1
    else:
        assert 400 <= status < 500, (status, case)
        assert after == before, case
    if case.kind == "valid":
        assert status in (202, 303), (status, response.content[:300], case)
    elif case.kind == "invalid":
        assert 400 <= status < 500, (status, case)


def assert_valid_share(stats: Counter[str]) -> None:
    print(f"registration fuzz: {dict(stats)}")
    assert stats["requests"] >= 0.9 * stats["planned"]
    assert stats["stored"] >= VALID_SHARE * stats["requests"], stats


def test_registration_api_never_fails_and_never_stores_bad_input() -> None:
    client, stats = Client(), Counter[str](planned=examples("registration_api"))

    @fuzz_settings("registration_api")
    @given(registration_api_cases())
    def run(case: Case) -> None:
        check_registration(client, "/api/registrations/", case, stats)

    run()
    assert_valid_share(stats)


def test_registration_form_never_fails_and_never_stores_bad_input() -> None:
    client, stats = Client(), Counter[str](planned=examples("form"))

    @fuzz_settings("form")
    @given(form_cases())
    def run(case: Case) -> None:
        check_registration(client, "/register/", case, stats)

    run()
    assert_valid_share(stats)


def test_robot_api_never_fails_and_changes_nothing_when_it_refuses() -> None:
    Robot.objects.create(name="demo", source_url="http://127.0.0.1:9/todos")
    client, stats = Client(), Counter[str]()

    @fuzz_settings("robot_api")
    @given(robot_cases(TOKEN))
    def run(case: RobotCase) -> None:
        before = snapshot()
        headers = {"Authorization": case.authorization} if case.authorization else {}
        response = client.generic(case.method, case.path, case.body, case.content_type, headers=headers)
        assert response.status_code < 500, (response.status_code, response.content[:300], case)
        stats[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 400:
            assert snapshot() == before, (response.status_code, case)

    run()
    print(f"robot API fuzz: {dict(stats)}")
    # Some requests must get through to the services, or only the parsing was fuzzed.
    assert stats["2xx"] >= VALID_SHARE * sum(stats.values()), stats
