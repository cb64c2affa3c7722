"""Shared pieces of the deployment tests: run the validators, render kustomize, process OpenShift templates."""

from __future__ import annotations

import functools
import re
import secrets
import shlex
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from asyncportal import roles

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCHEMAS = DEPLOY / "schemas"
K8S = DEPLOY / "k8s"
# The oldest Kubernetes we support: OpenShift 4.18 runs Kubernetes 1.31.
K8S_VERSION = "1.31"
OVERLAYS = ("kubernetes", "openshift")
# Kinds kubernetes-validate has no schema for, validated against the schemas vendored in deploy/schemas.
VENDORED_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication.json",
    ("route.openshift.io/v1", "Route"): "openshift-route.json",
    ("build.openshift.io/v1", "BuildConfig"): "openshift-buildconfig.json",
    ("image.openshift.io/v1", "ImageStream"): "openshift-imagestream.json",
    ("template.openshift.io/v1", "Template"): "openshift-template.json",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|CREDENTIAL", re.IGNORECASE)
URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://([^/@]*)@", re.IGNORECASE)

Obj = dict[str, Any]


def tool(name: str) -> str:
    """Return the path of a validator installed next to this interpreter (requirements-dev.txt)."""
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is missing: install requirements-dev.txt"
    return str(path)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=120)


def job_timeout(config: dict[str, str] | None = None) -> int:
    """The longest RQ job timeout in force: the settings' default or the deployment's override."""
    return max(settings.RQ_JOB_TIMEOUT, int((config or {}).get("RQ_JOB_TIMEOUT", 0)))


def procfile_roles() -> dict[str, list[str]]:
    """Return ``{role: argv}`` as the Procfile writes it (each line calls the entrypoint)."""
    roles = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            roles[name.strip()] = shlex.split(command)
    return roles


@functools.cache
def entrypoint_roles() -> dict[str, tuple[str, ...]]:
    """Return ``{role: argv}`` for every process role of deploy/entrypoint.sh (the one definition), 2 workers."""
    return {role: tuple(roles.command(role)) for role in roles.names()}


def rq_worker_roles() -> set[str]:
    return {role for role, argv in entrypoint_roles().items() if any(arg.startswith("rqworker") for arg in argv)}


def load_all(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: Path) -> list[Obj]:
    result = run(tool("kubectl"), "kustomize", str(path))
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


def kubernetes_validate(objects: list[Obj], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    return run(tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(path))


def assert_kubernetes_valid(objects: list[Obj], tmp_path: Path) -> None:
    """Every object passes kubernetes-validate --strict; none is skipped for want of a schema."""
    result = kubernetes_validate(objects, tmp_path)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == len(objects), result.stdout
    assert all(line.startswith("INFO") and " passed " in line for line in lines), result.stdout


def vendored_schema_check(objects: list[Obj], tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run check-jsonschema once per vendored schema over the objects of that kind (one file each)."""
    results = []
    for key, schema in VENDORED_SCHEMAS.items():
        matching = [obj for obj in objects if (obj["apiVersion"], obj["kind"]) == key]
        if not matching:
            continue
        files = []
        for index, obj in enumerate(matching):
            path = tmp_path / f"{obj['kind'].lower()}-{index}.yaml"
            path.write_text(yaml.safe_dump(obj))
            files.append(str(path))
        results.append(run(tool("check-jsonschema"), "--schemafile", str(SCHEMAS / schema), *files))
    return results


def split_by_validator(objects: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """Return (objects for kubernetes-validate, objects for the vendored schemas)."""
    vendored = [obj for obj in objects if (obj["apiVersion"], obj["kind"]) in VENDORED_SCHEMAS]
    return [obj for obj in objects if obj not in vendored], vendored


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    (match,) = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return match


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def workloads(objects: list[Obj]) -> Iterator[Obj]:
    return (obj for obj in objects if obj["kind"] in WORKLOAD_KINDS)


def containers(spec: Obj) -> list[Obj]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def all_containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for workload in workloads(objects):
        for container in containers(pod_spec(workload)):
            yield workload, container


def role_of(container: Obj) -> str:
    return str(container.get("args", ["web"])[0])


def app_containers(objects: list[Obj]) -> list[Obj]:
    """Containers that run the asyncportal image (every workload but the Redis StatefulSet)."""
    return [c for w, c in all_containers(objects) if w["kind"] != "StatefulSet"]


def is_literal_secret(name: str, value: str) -> bool:
    """Whether an environment value carries a secret itself rather than a reference to one.

    References are ``$(VAR)`` (the kubelet's expansion) and ``${VAR}`` (compose and template substitution);
    what is left once they are removed must be empty for a secret-named variable, and a URL must have no
    password of its own.
    """
    literal = re.sub(r"\$\(\w+\)|\$\{[^}]*\}", "", value)
    userinfo = URL_USERINFO.match(literal)
    return bool((SECRET_NAME.search(name) and literal) or (userinfo and userinfo[1] not in ("", ":")))


def literal_secrets(env: list[Obj]) -> list[str]:
    """Names of Kubernetes env entries that carry a secret as a literal value instead of a reference."""
    return [entry["name"] for entry in env if "value" in entry and is_literal_secret(entry["name"], entry["value"])]


def generate(expression: str) -> str:
    """Stand in for OpenShift's ``generate: expression`` for the one form the templates use."""
    match = re.fullmatch(r"\[a-zA-Z0-9\]\{(\d+)\}", expression)
    assert match, f"unsupported generator expression {expression!r}"
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(int(match[1])))


def template_values(template: Obj, given: dict[str, str]) -> dict[str, str]:
    values = {}
    for param in template.get("parameters", []):
        name = param["name"]
        if name in given:
            values[name] = given[name]
        elif "value" in param:
            values[name] = param["value"]
        elif param.get("generate") == "expression":
            values[name] = generate(param["from"])
        else:
            assert not param.get("required"), f"required parameter {name} needs a value"
            values[name] = ""
    return values


def process_template(template: Obj, given: dict[str, str]) -> list[Obj]:
    """Do what ``oc process`` does: ``${P}`` inside strings, ``${{P}}`` as a whole value (parsed as YAML).

    An unknown parameter raises KeyError, so a misspelt placeholder fails the test. ``$(VAR)`` is left
    alone: that is the kubelet's expansion of earlier environment variables.
    """
    values = template_values(template, given)

    def substitute(node: Any) -> Any:
        if isinstance(node, dict):
            return {substitute(key): substitute(value) for key, value in node.items()}
        if isinstance(node, list):
            return [substitute(item) for item in node]
        if isinstance(node, str):
            whole = re.fullmatch(r"\$\{\{(\w+)\}\}", node)
            if whole:
                return yaml.safe_load(values[whole[1]])
            return re.sub(r"\$\{(\w+)\}", lambda match: values[match[1]], node)
        return node

    objects: list[Obj] = substitute(template["objects"])
    return objects


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\$\{\{?(\w+)\}?\}", text))


def config_of(objects: list[Obj]) -> dict[str, str]:
    """The data of the ConfigMap asyncportal-config."""
    data: dict[str, str] = named(objects, "ConfigMap", "asyncportal-config")["data"]
    return data


def deployment_for(objects: list[Obj], role: str) -> Obj:
    return named(objects, "Deployment", f"asyncportal-{role}")


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels
