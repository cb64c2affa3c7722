"""`make run`'s bootstrap: one admin, password shown once, the demo robot where its feed is served; a private Redis."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from asyncportal import localredis, services
from robot.models import Robot


@pytest.mark.django_db
def test_admin_ensure_creates_admin_with_random_password_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    first = services.admin_ensure()
    second = services.admin_ensure()
    user = get_user_model().objects.get(username="admin")
    assert first.username == "admin" and len(first.password) >= 12
    assert user.is_superuser and user.check_password(first.password)
    assert second.password == ""


@pytest.mark.django_db
def test_admin_ensure_uses_environment_and_never_echoes_given_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-given-password")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    account = services.admin_ensure()
    user = get_user_model().objects.get(username="ops")
    assert account.password == ""
    assert user.email == "ops@example.com" and user.check_password("a-long-given-password")


def test_private_redis_persists_with_append_only_file_and_stops(tmp_path: Path) -> None:
    server = localredis.start(tmp_path, persistent=True)
    try:
        client = redis.Redis.from_url(server.url)
        client.set("asyncportal:probe", "1")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        server.stop()
    assert server.process.returncode is not None
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()
    restarted = localredis.start(tmp_path, persistent=True, port=server.port)
    try:
        assert redis.Redis.from_url(restarted.url).get("asyncportal:probe") == b"1"
    finally:
        restarted.stop()


@pytest.mark.django_db
def test_bootstrap_makes_the_demo_robot_only_where_the_demo_feed_is_served() -> None:
    out = io.StringIO()
    with override_settings(ROBOT_DEMO_FEED=False):
        call_command("bootstrap", "--base-url", "http://portal.example.com", stdout=out)
    assert not Robot.objects.exists()
    assert "Demo robot: none (ROBOT_DEMO_FEED is off" in out.getvalue()
    call_command("bootstrap", "--base-url", "http://127.0.0.1:8000", stdout=out)
    assert Robot.objects.get().source_url == "http://127.0.0.1:8000/api/demo/todos/"
