"""deploy/k8s: both overlays render and pass the validators; our checks are strict enough to catch a misspelling.

No test here re-tests a tool on its own: each rejection test pins something of ours (the ``--strict`` we
run kubernetes-validate with, or the ``additionalProperties: false`` of the schemas vendored in deploy/schemas).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import (
    K8S,
    OVERLAYS,
    REPO,
    VENDORED_SCHEMAS,
    Obj,
    assert_kubernetes_valid,
    config_of,
    deployment_for,
    kubernetes_validate,
    kustomize,
    named,
    of_kind,
    pod_spec,
    split_by_validator,
    vendored_schema_check,
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_kubernetes_validate_strict(
    rendered: dict[str, list[Obj]], overlay: str, tmp_path: Path
) -> None:
    core, _ = split_by_validator(rendered[overlay])
    assert_kubernetes_valid(core, tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_crd_objects_pass_vendored_schemas(
    rendered: dict[str, list[Obj]], overlay: str, tmp_path: Path
) -> None:
    _, vendored = split_by_validator(rendered[overlay])
    results = vendored_schema_check(vendored, tmp_path)
    assert vendored and results
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok -- validation done" in result.stdout


def test_our_kubernetes_check_is_strict_so_a_misspelt_field_fails(
    rendered: dict[str, list[Obj]], tmp_path: Path
) -> None:
    web = yaml.safe_load(yaml.safe_dump(deployment_for(rendered["kubernetes"], "web")))
    pod_spec(web)["containers"][0]["readinesProbe"] = pod_spec(web)["containers"][0].pop("readinessProbe")
    result = kubernetes_validate([web], tmp_path)
    assert result.returncode == 1
    assert "'readinesProbe' was unexpected" in result.stdout


@pytest.mark.parametrize("key", sorted(VENDORED_SCHEMAS))
def test_each_vendored_schema_refuses_fields_it_does_not_list(key: tuple[str, str], tmp_path: Path) -> None:
    api_version, kind = key
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "specz": {}}
    (result,) = vendored_schema_check([obj], tmp_path)
    assert result.returncode == 1
    assert "Additional properties are not allowed ('specz' was unexpected)" in result.stdout


def test_scaled_object_schema_rejects_a_misspelt_redis_trigger_key(
    rendered: dict[str, list[Obj]], tmp_path: Path
) -> None:
    scaled = yaml.safe_load(yaml.safe_dump(named(rendered["kubernetes"], "ScaledObject", "asyncportal-records")))
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    metadata["listname"] = metadata.pop("listName")
    (result,) = vendored_schema_check([scaled], tmp_path)
    assert result.returncode == 1
    assert "listName" in result.stdout


def test_base_holds_no_secret_and_the_example_stays_out_of_it() -> None:
    base = kustomize(K8S / "base")
    assert of_kind(base, "Secret") == []
    assert "secret.example.yaml" not in (K8S / "base" / "kustomization.yaml").read_text().split("resources:")[1]


def test_secret_example_is_valid_and_holds_only_placeholders(tmp_path: Path) -> None:
    (example,) = yaml.safe_load_all((K8S / "base" / "secret.example.yaml").read_text())
    assert_kubernetes_valid([example], tmp_path)
    for name, value in example["stringData"].items():
        assert value == "" or "REPLACE-ME" in value, name


def test_secret_example_is_refused_by_the_production_settings(rendered: dict[str, list[Obj]]) -> None:
    (example,) = yaml.safe_load_all((K8S / "base" / "secret.example.yaml").read_text())
    env = {**os.environ, **config_of(rendered["kubernetes"]), **example["stringData"]}
    env["DJANGO_SETTINGS_MODULE"] = "asyncportal.settings.production"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
