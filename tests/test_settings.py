"""Production settings refuse insecure defaults and pass `check --deploy`; env parsing fails loudly."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from asyncportal import env
from asyncportal.queue_names import SERIALIZER
from tests.conftest import BASE_DIR

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "asyncportal.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://portal@db.example.com:5432/portal",
    "REDIS_URL": "redis://redis.example.com:6379/0",
}


def manage(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env={**base, **PRODUCTION_ENV, **overrides},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_check_deploy_at_warning_level() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_robots_may_reach_internal_addresses() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", ROBOT_OUTBOUND_POLICY="any")
    assert result.returncode != 0
    assert "robot.W002" in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_settings_refuse_to_boot_without(missing: str) -> None:
    result = manage("check", **{missing: ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_settings_refuse_a_weak_secret_key() -> None:
    result = manage("check", SECRET_KEY="django-insecure-short")
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_production_settings_refuse_wildcard_allowed_hosts() -> None:
    result = manage("check", ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the hosts" in result.stderr


def test_production_settings_never_use_pickle_for_jobs() -> None:
    code = "from django.conf import settings; print({q['SERIALIZER'] for q in settings.RQ_QUEUES.values()})"
    result = manage("shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr({SERIALIZER})


def test_env_bool_rejects_ambiguous_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCPORTAL_TEST_FLAG", "maybe")
    with pytest.raises(ValueError, match="ASYNCPORTAL_TEST_FLAG must be a boolean"):
        env.bool_("ASYNCPORTAL_TEST_FLAG", False)


def test_env_database_defaults_to_sqlite_with_immediate_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env.database(BASE_DIR / "var" / "x.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize("url", ["", "sqlite:////tmp/x.sqlite3", "postgres://u:p@db:5433/portal"])
def test_env_database_keeps_connections_open_on_sqlite_and_postgres(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "30")
    config = env.database(BASE_DIR / "var" / "x.sqlite3")
    assert (config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]) == (30, True)


@pytest.mark.parametrize(("raw", "threshold"), [("", 5), ("3", 3), ("0", None)])
def test_env_database_lets_postgres_prepare_repeated_statements_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, raw: str, threshold: int | None
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db:5432/app")
    monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", raw)
    config = env.database(BASE_DIR / "var" / "x.sqlite3")
    assert config["OPTIONS"]["prepare_threshold"] == threshold


def test_env_database_reads_postgres_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5433/portal")
    config = env.database(BASE_DIR / "var" / "x.sqlite3")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        5433,
        "portal",
    )


def test_redis_url_gets_socket_timeouts_unless_it_sets_its_own() -> None:
    assert env.redis_url_with_timeouts("redis://h:6379/0", socket_timeout=5, connect_timeout=3) == (
        "redis://h:6379/0?socket_timeout=5&socket_connect_timeout=3"
    )
    kept = env.redis_url_with_timeouts("rediss://:pw@h/1?socket_timeout=9", socket_timeout=5, connect_timeout=3)
    assert kept == "rediss://:pw@h/1?socket_timeout=9&socket_connect_timeout=3"


SAFETY = ("REGISTRATION_RATE_LIMIT", "ROBOT_DEMO_FEED", "ROBOT_DEMO_FEED_MAX_ITEMS", "TRUSTED_PROXIES")


def safety_settings(module: str, tmp_path: Path) -> str:
    """Return what ``module`` sets for the internet-facing defaults, read with none of them in the environment."""
    code = "from django.conf import settings as s; " + "; ".join(f"print(repr(s.{name}))" for name in SAFETY)
    unset = {name: "" for name in SAFETY}
    result = manage("shell", "-v", "0", "-c", code, DJANGO_SETTINGS_MODULE=module, VAR_DIR=str(tmp_path), **unset)
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


def test_production_limits_intake_and_serves_no_demo_feed(tmp_path: Path) -> None:
    assert safety_settings("asyncportal.settings.production", tmp_path) == "'20/m' False 1000 []"


@pytest.mark.parametrize("module", ["asyncportal.settings.local", "asyncportal.settings.test"])
def test_make_run_and_tests_limit_intake_as_production_does_and_serve_the_demo_feed(
    module: str, tmp_path: Path
) -> None:
    assert safety_settings(module, tmp_path) == "'20/m' True 1000 []"
