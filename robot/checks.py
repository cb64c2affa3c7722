"""System checks: configuration mistakes fail ``manage.py check`` (and every boot), not a cycle at 3 a.m."""

from __future__ import annotations

import ipaddress
import sqlite3
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import connections

from robot import outbound

MIN_TOKEN_LENGTH = 32
MAX_DELIVERY_CONCURRENCY = 64  # threads (and connections) per record worker process
MIN_SQLITE = (3, 35, 0)  # UPDATE/INSERT … RETURNING (robot/services/record_sql.py, rows.py); Django accepts 3.31


@register()
def robot_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the robot settings that the code relies on."""
    problems: list[CheckMessage] = []
    token = settings.ROBOT_API_TOKEN
    if token and len(token) < MIN_TOKEN_LENGTH and not settings.DEBUG:
        problems.append(
            Error(
                f"ROBOT_API_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use a long random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                id="robot.E001",
            )
        )
    if settings.WORKERS < 1:
        problems.append(
            Error("WORKERS must be at least 1.", hint="It is the record worker pool size.", id="robot.E002")
        )
    for name in ("ROBOT_FETCH_TIMEOUT", "ROBOT_POST_TIMEOUT"):
        if getattr(settings, name) < 1:
            problems.append(Error(f"{name} must be at least 1 second.", id="robot.E003"))
    if settings.ROBOT_FETCH_MAX_BYTES < 1024:
        problems.append(Error("ROBOT_FETCH_MAX_BYTES must be at least 1024.", id="robot.E004"))
    if settings.ROBOT_RECORD_RETRIES < 0:
        problems.append(Error("ROBOT_RECORD_RETRIES must not be negative.", id="robot.E005"))
    if not 1 <= settings.ROBOT_DELIVERY_CONCURRENCY <= MAX_DELIVERY_CONCURRENCY:
        problems.append(
            Error(
                f"ROBOT_DELIVERY_CONCURRENCY must be between 1 and {MAX_DELIVERY_CONCURRENCY}.",
                hint="It is how many records of one chunk a record worker POSTs at once; 1 = one after the other.",
                id="robot.E010",
            )
        )
    if settings.ROBOT_DEMO_FEED_MAX_ITEMS < 1:
        problems.append(Error("ROBOT_DEMO_FEED_MAX_ITEMS must be at least 1.", id="robot.E009"))
    try:
        validate_slug(settings.DEFAULT_ROBOT)
    except ValidationError:
        problems.append(Error("DEFAULT_ROBOT must be a robot name (a slug).", id="robot.E006"))
    vendors = {connections[alias].vendor for alias in connections}
    problems += _outbound_problems() + sqlite_problems(sqlite3.sqlite_version_info, vendors)
    if settings.RQ_JOB_TIMEOUT < 2 * settings.ROBOT_FETCH_TIMEOUT + 30:
        problems.append(
            Warning(
                "RQ_JOB_TIMEOUT leaves too little time for a cycle's fetch and fan-out.",
                hint="Make RQ_JOB_TIMEOUT at least 2 * ROBOT_FETCH_TIMEOUT + 30.",
                id="robot.W001",
            )
        )
    return problems


def sqlite_problems(version: tuple[int, int, int], vendors: set[str]) -> list[CheckMessage]:
    """The record path's statements need ``RETURNING``: refuse an SQLite library too old for it, if in use."""
    if "sqlite" not in vendors or version >= MIN_SQLITE:
        return []
    found, needed = ".".join(map(str, version)), ".".join(map(str, MIN_SQLITE))
    hint = "Use a Python built against a newer libsqlite3 (the image's Debian trixie has one), or PostgreSQL."
    message = f"SQLite {found} is too old for the robot's record path; it needs {needed}."
    return [Error(message, hint=hint, id="robot.E011")]


@register(deploy=True)
def robot_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: a deployment that lets robots reach the cluster's own addresses should say so."""
    if settings.ROBOT_OUTBOUND_POLICY != "any":
        return []
    return [
        Warning(
            "ROBOT_OUTBOUND_POLICY is 'any': robots may connect to loopback, private and other internal addresses.",
            hint="Use 'public' and name the internal hosts robots need in ROBOT_OUTBOUND_ALLOW.",
            id="robot.W002",
        )
    ]


def _outbound_problems() -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.ROBOT_OUTBOUND_POLICY not in outbound.POLICIES:
        problems.append(
            Error(
                f"ROBOT_OUTBOUND_POLICY must be one of {', '.join(outbound.POLICIES)}.",
                hint="public: refuse private, loopback and other non-public addresses; any: allow them.",
                id="robot.E007",
            )
        )
    for entry in settings.ROBOT_OUTBOUND_ALLOW:
        # Anything else that is not an address is a host name; an entry with "/" must be a network.
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if "/" in entry:
                problems.append(Error(f"ROBOT_OUTBOUND_ALLOW entry {entry!r} is not a valid CIDR.", id="robot.E008"))
    return problems
