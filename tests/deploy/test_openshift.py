"""deploy/openshift templates: valid Templates whose processed objects validate and keep the deploy properties."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    Obj,
    all_containers,
    app_containers,
    assert_kubernetes_valid,
    entrypoint_roles,
    job_timeout,
    literal_secrets,
    of_kind,
    placeholders,
    pod_spec,
    process_template,
    role_of,
    rq_worker_roles,
    split_by_validator,
    vendored_schema_check,
)

TEMPLATES = DEPLOY / "openshift"
NAMES = ("build-template.yaml", "app-template.yaml", "worker-template.yaml")
GIVEN = {"GIT_URL": "https://git.example.com/asyncportal.git", "APP_HOSTNAME": "asyncportal.apps.example.com"}
WORKER_ROLES = sorted(set(entrypoint_roles()) - {"web"})


def template(name: str) -> Obj:
    loaded: Obj = yaml.safe_load((TEMPLATES / name).read_text())
    return loaded


def processed(name: str, **given: str) -> list[Obj]:
    return process_template(template(name), {**GIVEN, **given})


def everything() -> list[Obj]:
    objects = processed("build-template.yaml") + processed("app-template.yaml")
    for role in WORKER_ROLES:
        objects += processed("worker-template.yaml", WORKER=role)
    return objects


def test_templates_pass_the_template_schema(tmp_path: Path) -> None:
    results = vendored_schema_check([template(name) for name in NAMES], tmp_path)
    assert len(results) == 1
    assert results[0].returncode == 0, results[0].stdout + results[0].stderr


def test_processed_objects_pass_kubernetes_validate_and_the_vendored_schemas(tmp_path: Path) -> None:
    core, vendored = split_by_validator(everything())
    assert {obj["kind"] for obj in vendored} == {"ImageStream", "BuildConfig", "Route"}
    assert_kubernetes_valid(core, tmp_path)
    for result in vendored_schema_check(vendored, tmp_path):
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_every_placeholder_is_a_declared_parameter_and_every_parameter_is_used(name: str) -> None:
    declared = {param["name"] for param in template(name)["parameters"]}
    objects_text = yaml.safe_dump(template(name)["objects"])
    assert placeholders(objects_text) == declared


def test_parameters_cover_those_of_the_original_templates() -> None:
    declared = {param["name"] for name in NAMES for param in template(name)["parameters"]}
    assert {
        "APP_NAME",
        "WORKER",
        "IMAGE",
        "REPLICAS",
        "REDIS_SERVICE",
        "POSTGRES_SERVICE",
        "GIT_URL",
        "GIT_REF",
        "SECRET_KEY",
    } <= declared


def test_secret_key_is_generated_by_the_template_strong_enough_for_production() -> None:
    (param,) = [p for p in template("app-template.yaml")["parameters"] if p["name"] == "SECRET_KEY"]
    assert param["generate"] == "expression"
    assert param["from"] == "[a-zA-Z0-9]{50}"
    assert "value" not in param
    (secret,) = of_kind(template("app-template.yaml")["objects"], "Secret")
    assert secret["stringData"]["SECRET_KEY"] == "${SECRET_KEY}"
    (generated,) = of_kind(processed("app-template.yaml"), "Secret")
    key = generated["stringData"]["SECRET_KEY"]
    # The production settings' own rule (asyncportal/settings/production.py).
    assert len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure")


def test_build_config_builds_the_dockerfile_from_git_without_credentials() -> None:
    (build,) = of_kind(processed("build-template.yaml"), "BuildConfig")
    spec = build["spec"]
    assert spec["source"]["type"] == "Git"
    assert urlsplit(spec["source"]["git"]["uri"]).password is None
    assert "sourceSecret" not in spec["source"]
    assert spec["strategy"]["dockerStrategy"]["dockerfilePath"] == "deploy/Dockerfile"
    assert "env" not in spec["strategy"]["dockerStrategy"]
    assert spec["output"]["to"] == {"kind": "ImageStreamTag", "name": "asyncportal:latest"}
    (stream,) = of_kind(processed("build-template.yaml"), "ImageStream")
    assert stream["spec"]["lookupPolicy"] == {"local": True}


def test_build_default_base_image_is_the_dockerfiles() -> None:
    (param,) = [p for p in template("build-template.yaml")["parameters"] if p["name"] == "PYTHON_IMAGE"]
    assert f"ARG PYTHON_IMAGE={param['value']}\n" in (DEPLOY / "Dockerfile").read_text()


@pytest.mark.parametrize("role", WORKER_ROLES)
def test_worker_template_runs_each_entrypoint_worker_role(role: str) -> None:
    (deployment,) = processed("worker-template.yaml", WORKER=role)
    (container,) = pod_spec(deployment)["containers"]
    assert role_of(container) == role
    assert deployment["spec"]["replicas"] == 1
    if role in rq_worker_roles():
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > job_timeout({"RQ_JOB_TIMEOUT": "180"})
    assert "redis" not in " ".join(container["livenessProbe"]["exec"]["command"]).lower()


def test_app_template_web_probes_and_edge_route() -> None:
    objects = processed("app-template.yaml")
    (web,) = [c for _, c in all_containers(objects) if c["name"] == "web"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (route,) = of_kind(objects, "Route")
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    (config,) = of_kind(objects, "ConfigMap")
    assert config["data"]["ALLOWED_HOSTS"] == route["spec"]["host"] == GIVEN["APP_HOSTNAME"]
    (job,) = of_kind(objects, "Job")
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert of_kind(objects, "PodDisruptionBudget")


def test_templates_pass_secrets_by_reference_and_fix_no_uid() -> None:
    objects = everything()
    images = {container["image"] for container in app_containers(objects)}
    assert images == {"asyncportal:latest"}
    for workload, container in all_containers(objects):
        assert literal_secrets(container.get("env", [])) == [], workload["metadata"]["name"]
        assert {"runAsUser", "runAsGroup"}.isdisjoint(container["securityContext"])
        assert {"runAsUser", "runAsGroup", "fsGroup"}.isdisjoint(pod_spec(workload)["securityContext"])
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
