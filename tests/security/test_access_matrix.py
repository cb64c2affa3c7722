"""Every URL pattern × every role × each method it handles answers as tests/security/rules.py says.

One test walks the whole URLconf (admin and django-rq included) and collects every mismatch into one message, so
a run shows the full picture; objects and logged-in clients are made once and reused by all cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.rules import ROLES, RULES, SESSION_ROLES, Policy, rule_for
from tests.security.samples import ROBOT_TOKEN, RQ_TOKEN, Samples, make_samples

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

TOKENS = override_settings(ROBOT_API_TOKEN=ROBOT_TOKEN, RQ_API_TOKEN=RQ_TOKEN, REGISTRATION_RATE_LIMIT="0")
VALIDATION = (400, 409, 413, 415, 422)


def url_patterns(patterns: list[Any] | None = None, route: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """Yield (key, full route) of every pattern: key ``namespace:name``, or ``route:<route>`` when unnamed."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        full = route + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, full, inner)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}{pattern.name}" if pattern.name else f"route:{full}"), full


def build_url(route: str, samples: Samples) -> str:
    """Fill the route's converters and named groups from the samples; drop regex anchors."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(samples.value(m.group(1), route)), route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(samples.value(m.group(1), route)), path)
    return "/" + path.replace("^", "").replace("$", "").replace("/?", "/")


def outcome(response: Response) -> str:
    status = response.status_code
    if status == 302 and response["Location"].startswith("/admin/login/"):
        return "login"
    named = {401: "deny", 403: "deny", 404: "gone", 405: "405"}
    if status in named:
        return named[status]
    return "ok" if 200 <= status < 400 or status in VALIDATION else f"status {status}"


def send(samples: Samples, role: str, method: str, url: str, csrf: bool = True) -> Response:
    client = samples.client(role)
    headers = samples.headers(role, csrf=csrf)
    if method in ("GET", "HEAD"):
        return client.generic(method, url, headers=headers)
    return client.generic(method, url, "{}", "application/json", headers=headers)


def check(samples: Samples, key: str, url_route: str, policy: Policy) -> tuple[int, list[str]]:
    """Run one pattern's cases; return how many ran and the mismatches."""
    cases, wrong = 0, []
    for method, table in policy.methods().items():
        for role in ROLES:
            samples.reset_queue()
            url = build_url(url_route, samples)
            got = outcome(send(samples, role, method, url))
            cases += 1
            if got != table[role]:
                wrong.append(f"{method} {url} as {role}: expected {table[role]}, got {got} ({key})")
            if policy.relogin:
                samples.login(role)
            if policy.csrf and method not in ("GET", "HEAD") and role in SESSION_ROLES and table[role] == "ok":
                # The same request without the CSRF token must be refused: the session is ambient authority.
                got = outcome(send(samples, role, method, url, csrf=False))
                cases += 1
                if got != "deny":
                    wrong.append(f"{method} {url} as {role} without CSRF token: expected deny, got {got}")
    return cases, wrong


def test_every_url_pattern_has_exactly_one_rule_and_every_rule_a_pattern() -> None:
    keys = [key for key, _ in url_patterns()]
    assert [key for key in keys if rule_for(key) is None] == []
    assert [regex for regex, _ in RULES if not any(re.fullmatch(regex, key) for key in keys)] == []


@pytest.mark.django_db
@TOKENS
def test_every_url_answers_every_role_as_the_rules_say() -> None:
    samples = make_samples()
    total, mismatches, patterns = 0, list[str](), list(url_patterns())
    for key, route in patterns:
        policy = rule_for(key)
        assert policy is not None, f"no rule for {key}"
        cases, wrong = check(samples, key, route, policy)
        total, mismatches = total + cases, mismatches + wrong
    print(f"access matrix: {len(patterns)} patterns, {total} cases")
    assert not mismatches, f"{len(mismatches)} of {total} cases answered otherwise:\n" + "\n".join(mismatches)


@pytest.mark.django_db
@TOKENS
@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/django-rq/stats.json/{RQ_TOKEN}/", 404),
        (f"/django-rq/stats.json/{RQ_TOKEN}", 404),
        (f"/django-rq/metrics/{RQ_TOKEN}", 404),
        # The admin's catch-all sends anonymous visitors of any unknown admin URL to the login page.
        (f"/admin/django_rq/dashboard/stats.json/{RQ_TOKEN}/", 302),
    ],
)
def test_metrics_refuse_the_token_in_the_url(path: str, status: int) -> None:
    samples = make_samples()
    assert samples.client("anonymous").get(path).status_code == status
    assert samples.client("staff").get(path).status_code == 404


@pytest.mark.django_db
@TOKENS
def test_metrics_take_the_token_in_the_authorization_header() -> None:
    samples = make_samples()
    response = samples.client("rq_token").get("/django-rq/stats.json/", headers=samples.headers("rq_token"))
    assert response.status_code == 200
    assert "queues" in response.json()
