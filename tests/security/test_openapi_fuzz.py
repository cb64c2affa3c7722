"""Schema-driven fuzzing (schemathesis): every operation of /api/openapi.json, with valid and invalid input.

Each generated request goes through the whole WSGI app (middleware included) with the robot token, and its
answer must be no 5xx, a documented status code and a body that matches the schema declared for that status.
Examples per operation are bounded (``EXAMPLES``, a tenth on PostgreSQL) so the run stays within minutes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from robot.models import Robot

TOKEN = "f" * 40
EXAMPLES = 250
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
COUNTS: Counter[str] = Counter()

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=True,
    with_security_parameters=False,
)


@pytest.fixture(autouse=True)
def _portal(settings: Any) -> None:
    settings.ROBOT_API_TOKEN = TOKEN
    settings.REGISTRATION_RATE_LIMIT = "0"
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEFAULT_ROBOT = "demo"
    Robot.objects.get_or_create(name="demo", defaults={"source_url": "http://127.0.0.1:9/todos"})


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES if connection.vendor == "sqlite" else EXAMPLES // 10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case[Any]) -> None:
    response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
    COUNTS[f"{case.operation.label} {response.status_code}"] += 1


@pytest.fixture(autouse=True, scope="module")
def _report() -> Any:
    yield
    statuses = Counter(label.rsplit(" ", 1)[1] for label in COUNTS.elements())
    print(f"\nopenapi fuzz: {sum(COUNTS.values())} requests, by status {dict(sorted(statuses.items()))}")
    for label, count in sorted(COUNTS.items()):
        print(f"  {label}: {count}")
