"""deploy/k8s: the rendered overlays have the properties the product relies on."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.helpers import (
    OVERLAYS,
    SECRET_NAME,
    Obj,
    all_containers,
    app_containers,
    config_of,
    containers,
    deployment_for,
    entrypoint_roles,
    job_timeout,
    literal_secrets,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    role_of,
    rq_worker_roles,
    workloads,
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_run_every_role_and_the_job_migrates(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    deployed = {role_of(pod_spec(d)["containers"][0]) for d in of_kind(objects, "Deployment")}
    assert deployed == set(entrypoint_roles())
    (job,) = of_kind(objects, "Job")
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_all_roles_run_one_image_set_by_the_overlay(rendered: dict[str, list[Obj]], overlay: str) -> None:
    images = {container["image"] for container in app_containers(rendered[overlay])}
    assert len(images) == 1
    assert images != {"asyncportal"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resources_and_a_locked_down_security_context(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for workload, container in all_containers(rendered[overlay]):
        where = f"{workload['metadata']['name']}/{container['name']}"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert security["readOnlyRootFilesystem"] is True, where
        pod_security = pod_spec(workload)["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_containers_write_only_to_a_tmp_emptydir(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for workload in workloads(rendered[overlay]):
        if workload["kind"] == "StatefulSet":
            continue
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        for container in containers(pod_spec(workload)):
            (mount,) = container["volumeMounts"]
            assert mount["mountPath"] == "/tmp"
            assert "emptyDir" in volumes[mount["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_probes_readyz_and_healthz_on_port_8080(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    (web,) = pod_spec(deployment_for(objects, "web"))["containers"]
    assert web["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "httpHeaders" not in web["readinessProbe"]["httpGet"]
    service = named(objects, "Service", "asyncportal-web")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"].items() <= pod_labels(deployment_for(objects, "web")).items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_has_a_disruption_budget(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    (budget,) = of_kind(objects, "PodDisruptionBudget")
    web = deployment_for(objects, "web")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(web).items()
    assert budget["spec"]["minAvailable"] < web["spec"]["replicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rq_workers_get_a_grace_period_longer_than_the_job_timeout(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    timeout = job_timeout(config_of(objects))
    for role in rq_worker_roles():
        assert pod_spec(deployment_for(objects, role))["terminationGracePeriodSeconds"] > timeout, role


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_liveness_does_not_depend_on_redis(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for role in set(entrypoint_roles()) - {"web"}:
        (container,) = pod_spec(deployment_for(rendered[overlay], role))["containers"]
        command = " ".join(container["livenessProbe"]["exec"]["command"])
        assert "kill -0 1" in command
        assert "redis" not in command.lower()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_wait_for_migrations_before_starting(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for deployment in of_kind(rendered[overlay], "Deployment"):
        (init,) = pod_spec(deployment)["initContainers"]
        assert init["args"] == ["wait-for-migrations"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_reach_pods_only_by_reference(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    assert of_kind(objects, "Secret") == []
    for workload, container in all_containers(objects):
        assert literal_secrets(container.get("env", [])) == [], workload["metadata"]["name"]
        for source in container.get("envFrom", []):
            assert source.keys() <= {"configMapRef", "secretRef"}
    assert not [key for key in config_of(objects) if SECRET_NAME.search(key)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_only_the_records_pool_never_to_zero(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "asyncportal-records"
    assert scaled["spec"]["minReplicaCount"] >= 1
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "rq:queue:records"
    auth = named(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "asyncportal-secrets", "key": "REDIS_PASSWORD"}
    ]
    assert "replicas" not in deployment_for(objects, "records")["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reaches_redis_in_the_overlay_namespace(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    (scaled,) = of_kind(objects, "ScaledObject")
    host = scaled["spec"]["triggers"][0]["metadata"]["address"].split(":")[0]
    service, namespace = host.split(".")[:2]
    assert named(objects, "Service", service)["metadata"]["namespace"] == namespace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_robot_worker_runs_one_pod_and_is_never_autoscaled(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    robot = deployment_for(objects, "robot")
    assert robot["spec"]["replicas"] == 1
    targets = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(objects, "ScaledObject")}
    targets |= {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(objects, "HorizontalPodAutoscaler")}
    assert robot["metadata"]["name"] not in targets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_keeps_an_append_only_file_on_a_volume(rendered: dict[str, list[Obj]], overlay: str) -> None:
    redis = named(rendered[overlay], "StatefulSet", "redis")
    (container,) = pod_spec(redis)["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_kubernetes_overlay_serves_tls_for_allowed_hosts(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["kubernetes"]
    (ingress,) = of_kind(objects, "Ingress")
    config = config_of(objects)
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    rule_hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert rule_hosts <= tls_hosts <= set(config["ALLOWED_HOSTS"].split(","))
    assert {f"https://{host}" for host in rule_hosts} <= set(config["CSRF_TRUSTED_ORIGINS"].split(","))
    (namespace,) = of_kind(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_openshift_overlay_routes_edge_tls_for_allowed_hosts(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["openshift"]
    (route,) = of_kind(objects, "Route")
    config = config_of(objects)
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    assert route["spec"]["to"]["name"] == "asyncportal-web"
    assert route["spec"]["host"] in config["ALLOWED_HOSTS"].split(",")
    assert f"https://{route['spec']['host']}" in config["CSRF_TRUSTED_ORIGINS"].split(",")


def test_openshift_overlay_fixes_no_uid_so_the_arbitrary_uid_applies(rendered: dict[str, list[Obj]]) -> None:
    text = yaml.safe_dump_all(rendered["openshift"])
    for field in ("runAsUser", "runAsGroup", "fsGroup"):
        assert field not in text
