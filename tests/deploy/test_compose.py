"""deploy/compose.yaml and deploy/.env.example: the compose-spec schema accepts them, and the shape is production's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.helpers import (
    DEPLOY,
    REPO,
    SECRET_NAME,
    Obj,
    entrypoint_roles,
    is_literal_secret,
    job_timeout,
    rq_worker_roles,
    run,
    tool,
)

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
# Where the application reads its environment in production (local/test settings and the launcher aside).
APP_SOURCES = [
    REPO / "asyncportal" / "env.py",
    REPO / "asyncportal" / "gunicorn.conf.py",
    REPO / "asyncportal" / "services.py",
    REPO / "asyncportal" / "settings" / "base.py",
    REPO / "asyncportal" / "settings" / "production.py",
    *sorted((REPO / "registration").rglob("*.py")),
    *sorted((REPO / "robot").rglob("*.py")),
]
ENV_READ = re.compile(r"\b(?:str_|int_|float_|bool_|list_|is_set|db_url|email_url)\(\s*['\"]([A-Z][A-Z0-9_]*)['\"]")


def services() -> dict[str, Obj]:
    loaded: dict[str, Obj] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def role_services() -> dict[str, Obj]:
    """``{role: service}`` for the services that run the asyncportal image."""
    return {service["command"][0]: service for service in services().values() if "build" in service}


def seconds(duration: str) -> int:
    """Parse a compose duration such as ``210s``, ``3m30s`` or ``1h``."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    hours, minutes, secs = (int(group or 0) for group in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def example_env() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_compose_file_passes_the_compose_spec_schema() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_compose_spec_schema_rejects_a_misspelt_key(tmp_path: Path) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    compose["services"]["records"]["stop_grace_periode"] = compose["services"]["records"].pop("stop_grace_period")
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(compose))
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad))
    assert result.returncode == 1
    assert "stop_grace_periode" in result.stdout


def test_one_service_per_entrypoint_role_plus_migrate_all_from_one_image() -> None:
    roles = role_services()
    assert set(roles) == set(entrypoint_roles()) | {"migrate"}
    assert len({(s["image"], str(s["build"])) for s in roles.values()}) == 1


def test_services_wait_for_the_migration_and_healthy_data_stores() -> None:
    all_services = services()
    assert all_services["migrate"]["restart"] == "no"
    assert all_services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for role, service in role_services().items():
        if role != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, role
            assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, role
    assert "pg_isready" in " ".join(all_services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(all_services["redis"]["healthcheck"]["test"])


def test_web_healthcheck_asks_readyz() -> None:
    web = role_services()["web"]
    assert "http://127.0.0.1:8080/readyz" in " ".join(web["healthcheck"]["test"])
    assert web["ports"] == ["${WEB_PORT:-8000}:8080"]


def test_rq_workers_get_a_stop_grace_period_longer_than_the_job_timeout() -> None:
    timeout = job_timeout(example_env())
    for role in rq_worker_roles():
        assert seconds(role_services()[role]["stop_grace_period"]) > timeout, role


def test_records_can_be_scaled_and_robot_runs_once() -> None:
    records, robot = role_services()["records"], role_services()["robot"]
    assert "container_name" not in records and "ports" not in records
    assert robot.get("deploy", {}).get("replicas", 1) == 1
    assert robot.get("scale", 1) == 1


def test_redis_keeps_an_append_only_file_and_requires_a_password() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["volumes"] == ["redis-data:/data"]


def test_secrets_appear_only_as_substitutions() -> None:
    for name, service in services().items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            assert not is_literal_secret(key, str(value)), f"{name}: {key}"
        for arg in service.get("command", []):
            assert not is_literal_secret("arg", arg), f"{name}: {arg}"
        assert service.get("env_file", ".env") == ".env", name


def test_env_example_defines_every_variable_compose_substitutes() -> None:
    without_comments = yaml.safe_dump(yaml.safe_load(COMPOSE.read_text()))
    substituted = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", without_comments))
    documented = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert substituted <= documented


def test_env_example_documents_every_variable_the_app_reads() -> None:
    read = {name for path in APP_SOURCES for name in ENV_READ.findall(path.read_text())}
    assert {"SECRET_KEY", "REDIS_URL", "DATABASE_URL", "RQ_JOB_TIMEOUT"} <= read
    text = ENV_EXAMPLE.read_text()
    assert [name for name in sorted(read) if not re.search(rf"\b{name}=", text)] == []


def test_env_example_holds_placeholders_only() -> None:
    for name, value in example_env().items():
        if SECRET_NAME.search(name):
            assert "REPLACE-ME" in value, name


def test_env_example_secret_key_is_refused_by_the_production_settings() -> None:
    env = {**os.environ, **example_env(), "DJANGO_SETTINGS_MODULE": "asyncportal.settings.production"}
    env.update(DATABASE_URL="postgres://u:p@postgres:5432/db", REDIS_URL="redis://:p@redis:6379/0")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
