"""deploy/Dockerfile: hadolint passes, and the final stage has the properties the platforms rely on."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.helpers import DEPLOY, REPO, SECRET_NAME, run, tool

DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT_CONFIG = DEPLOY / ".hadolint.yaml"

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """Return ``(KEYWORD, arguments)`` pairs, continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def final_stage() -> list[Instruction]:
    return stages(DOCKERFILE.read_text())[-1]


def values(stage: list[Instruction], keyword: str) -> list[str]:
    return [rest for key, rest in stage if key == keyword]


def env_pairs(stage: list[Instruction]) -> dict[str, str]:
    pairs = {}
    for keyword in ("ENV", "ARG"):
        for rest in values(stage, keyword):
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                pairs[name] = value
    return pairs


def test_hadolint_passes_with_no_rule_ignored() -> None:
    result = run(tool("hadolint"), "--config", str(HADOLINT_CONFIG), str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    config = yaml.safe_load(HADOLINT_CONFIG.read_text())
    assert config["failure-threshold"] == "style"
    assert config["disable-ignore-pragma"] is True
    assert "ignored" not in config


def test_hadolint_fails_a_dockerfile_with_findings(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install django\nCMD python manage.py runserver\n")
    result = run(tool("hadolint"), "--config", str(HADOLINT_CONFIG), str(bad))
    assert result.returncode == 1
    assert {"DL3006", "DL3013", "DL3025"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_build_is_multi_stage_and_the_final_stage_copies_from_the_build() -> None:
    assert len(stages(DOCKERFILE.read_text())) >= 2
    assert all("--from=build" in rest for rest in values(final_stage(), "COPY"))


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    user = values(final_stage(), "USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert gid in ("", "0")


def test_final_stage_listens_on_8080_with_the_production_settings() -> None:
    stage = final_stage()
    assert values(stage, "EXPOSE") == ["8080"]
    env = env_pairs(stage)
    assert env["PORT"] == "8080"
    assert env["BIND_HOST"] == "0.0.0.0"
    assert env["DJANGO_SETTINGS_MODULE"] == "asyncportal.settings.production"


def test_entrypoint_and_cmd_are_exec_form() -> None:
    stage = final_stage()
    (entrypoint,) = values(stage, "ENTRYPOINT")
    (cmd,) = values(stage, "CMD")
    assert json.loads(entrypoint) == ["/app/deploy/entrypoint.sh"]
    assert json.loads(cmd) == ["web"]


def test_no_secret_is_baked_into_the_image() -> None:
    for stage in stages(DOCKERFILE.read_text()):
        assert [name for name in env_pairs(stage) if SECRET_NAME.search(name)] == []
    assert "SECRET_KEY" not in " ".join(rest for _, rest in final_stage())


def test_writable_path_is_group_zero_owned_with_group_rights_of_the_owner() -> None:
    runs = " ".join(values(final_stage(), "RUN"))
    assert re.search(r"chown 1001:0 (\S+)", runs)
    assert "chmod g=u" in runs
    assert "--gid 0" in runs


def test_dockerignore_keeps_secrets_and_local_state_out_but_the_entrypoint_in() -> None:
    patterns = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert {".git", ".venv", ".env", "**/.env", "var", "staticfiles"} <= set(patterns)
    assert patterns.index("!deploy/entrypoint.sh") > patterns.index("deploy")


def collectstatic_env() -> dict[str, str]:
    """The variables the Dockerfile gives its collectstatic step, with the throwaway SECRET_KEY generated."""
    (step,) = [rest for rest in values(stages(DOCKERFILE.read_text())[0], "RUN") if "collectstatic" in rest]
    env = {}
    for token in shlex.split(step):
        name, sep, value = token.partition("=")
        if not sep or not name.isupper():
            break
        env[name] = value
    assert env["SECRET_KEY"].startswith("$(")
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def test_production_settings_collect_static_with_only_the_build_steps_throwaway_values(tmp_path: Path) -> None:
    env = collectstatic_env()
    assert env["DJANGO_SETTINGS_MODULE"] == "asyncportal.settings.production"
    code = (
        "import sys, django; from django.conf import settings; settings.STATIC_ROOT = sys.argv[1]; django.setup(); "
        "from django.core.management import call_command; call_command('collectstatic', interactive=False, verbosity=0)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "static")],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert "admin/css/base.css" in manifest["paths"]
