"""The robot JSON API: every status code, the auth rules, and the prototype's legacy endpoints."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from unittest.mock import ANY

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.utils import timezone
from rq.job import Job

from robot import services
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from tests.helpers import queues_at
from tests.robot.support import HttpStub, make_robot

TOKEN = "s3cret-" + "x" * 40
BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api_token")]


@pytest.fixture
def api_token() -> Any:
    with override_settings(ROBOT_API_TOKEN=TOKEN, DEFAULT_ROBOT="demo"):
        yield


@pytest.fixture
def api() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def robot(stub: HttpStub) -> Robot:
    return make_robot("demo", source_url=stub.url, batch_size=20, interval=15)


def call(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    if method == "get":
        return client.get(path, **extra)
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(path, data=data, content_type="application/json", **extra)


ENDPOINTS = [
    ("get", "/api/robots/demo/"),
    ("put", "/api/robots/demo/"),
    ("get", "/api/robots/demo/cycles/"),
    ("post", "/api/robots/demo/start/"),
    ("post", "/api/robots/demo/stop/"),
    ("post", "/api/robots/demo/run/"),
    ("get", "/api/wstart"),
    ("post", "/api/wstart"),
    ("delete", "/api/wstop"),
    ("post", "/api/robots/demo/cycles/1/retry/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_requests_get_401_and_change_nothing(api: Client, robot: Robot, method: str, path: str) -> None:
    response = call(api, method, path, {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthenticated"
    assert Robot.objects.get(pk=robot.pk).state == "stopped" and not RobotAudit.objects.exists()


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic abc", f"Bearer {TOKEN}x"])
def test_a_wrong_token_gets_401(api: Client, robot: Robot, header: str) -> None:
    response = call(api, "post", "/api/robots/demo/start/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and Robot.objects.get(pk=robot.pk).state == "stopped"


def test_token_auth_is_off_when_no_token_is_configured(api: Client, robot: Robot) -> None:
    with override_settings(ROBOT_API_TOKEN=""):
        response = call(api, "get", "/api/robots/demo/", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_authenticated_non_staff_get_403(api: Client, robot: Robot, method: str, path: str) -> None:
    api.force_login(User.objects.create_user("user", password="pw"))
    response = call(api, method, path, {})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert not RobotAudit.objects.exists()


def test_staff_need_the_robot_permissions(api: Client, robot: Robot) -> None:
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    api.force_login(staff)
    assert call(api, "get", "/api/robots/demo/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_robot"))
    assert call(api, "get", "/api/robots/demo/").status_code == 200
    api.cookies.load({"csrftoken": "a" * 32})
    csrf = {"HTTP_X_CSRFTOKEN": "a" * 32}
    assert call(api, "post", "/api/robots/demo/stop/", **csrf).status_code == 403


def test_a_staff_session_must_pass_csrf_for_unsafe_methods(api: Client, robot: Robot) -> None:
    api.force_login(User.objects.create_superuser("admin", password="pw"))
    refused = call(api, "post", "/api/robots/demo/stop/")
    api.cookies.load({"csrftoken": "b" * 32})
    accepted = call(api, "post", "/api/robots/demo/stop/", HTTP_X_CSRFTOKEN="b" * 32)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert accepted.status_code == 200
    audit = RobotAudit.objects.get()
    assert (audit.action, audit.actor.username if audit.actor else "", audit.source) == ("stop", "admin", "api")


def test_a_bearer_token_needs_no_csrf(api: Client, robot: Robot, redis_conn: redis.Redis) -> None:
    response = call(api, "post", "/api/robots/demo/start/", {}, **BEARER)
    assert response.status_code == 200
    assert RobotAudit.objects.get().actor_label == "api-token"


def test_put_creates_then_updates_a_robot(api: Client, stub: HttpStub) -> None:
    body = {"source_url": stub.url, "records": 30, "timedelta": 20, "msg": "hello", "target_url": None}
    created = call(api, "put", "/api/robots/new-bot/", {**body, "chunk_size": 25}, **BEARER)
    updated = call(api, "put", "/api/robots/new-bot/", {"records": 31, "target_url": "https://t.example/in"}, **BEARER)
    robot = Robot.objects.get(name="new-bot")
    assert (created.status_code, updated.status_code) == (201, 200)
    assert created.json()["ok"] is True and created.json()["state"] == "stopped"
    assert (robot.batch_size, robot.interval, robot.msg, robot.target_url) == (31, 20, "hello", "https://t.example/in")
    assert robot.chunk_size == 25
    assert list(RobotAudit.objects.order_by("id").values_list("action", flat=True)) == ["create", "update"]


def test_the_models_names_are_accepted_beside_the_seeds_and_both_are_answered(api: Client, stub: HttpStub) -> None:
    body = {"source_url": stub.url, "batch_size": 40, "interval": 30}
    response = call(api, "put", "/api/robots/named/", body, **BEARER)
    robot = Robot.objects.get(name="named")
    assert response.status_code == 201 and (robot.batch_size, robot.interval) == (40, 30)
    answer = response.json()
    assert (answer["records"], answer["batch_size"], answer["timedelta"], answer["interval"]) == (40, 40, 30, 30)
    assert answer["job_id"] == answer["chain_token"] is None


def test_a_setting_given_under_both_names_is_422_and_changes_nothing(api: Client, robot: Robot) -> None:
    response = call(api, "put", "/api/robots/demo/", {"records": 5, "batch_size": 6}, **BEARER)
    assert response.status_code == 422 and set(response.json()["error"]["fields"]) == {"batch_size"}
    assert Robot.objects.get(pk=robot.pk).batch_size == robot.batch_size


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"records": 20}, {"source_url"}),
        ({"source_url": "not a url", "records": 0, "timedelta": 86_401}, {"source_url", "records", "timedelta"}),
        ({"source_url": "http://s.example/", "records": "20"}, {"records"}),
        ({"source_url": "http://s.example/", "timedelta": 1.5}, {"timedelta"}),
        ({"source_url": "http://s.example/", "records": True}, {"records"}),
        ({"source_url": "http://s.example/", "msg": 5}, {"msg"}),
        ({"source_url": "http://s.example/", "colour": "red"}, {"colour"}),
        ({"source_url": "http://s.example/", "chunk_size": 0}, {"chunk_size"}),
        ({"source_url": "http://s.example/", "chunk_size": 1001}, {"chunk_size"}),
        ({"source_url": "http://s.example/", "chunk_size": "10"}, {"chunk_size"}),
    ],
)
def test_put_with_invalid_values_is_422_with_fields_and_creates_nothing(
    api: Client, body: dict[str, Any], fields: set[str]
) -> None:
    response = call(api, "put", "/api/robots/bad/", body, **BEARER)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == fields
    assert not Robot.objects.exists()


def test_non_json_bodies_are_415_and_malformed_ones_400(api: Client, robot: Robot) -> None:
    auth = BEARER["HTTP_AUTHORIZATION"]
    form = api.post("/api/robots/demo/start/", data={"records": "20"}, HTTP_AUTHORIZATION=auth)
    broken = api.post("/api/robots/demo/start/", data="{oops", content_type="application/json", HTTP_AUTHORIZATION=auth)
    array = call(api, "post", "/api/robots/demo/start/", [1, 2], **BEARER)
    deep = api.post("/api/robots/demo/start/", "[" * 50_000, content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert (form.status_code, broken.status_code, array.status_code, deep.status_code) == (415, 400, 400, 400)
    assert broken.json()["error"]["code"] == "malformed"
    assert Robot.objects.get(pk=robot.pk).state == "stopped"


def test_an_oversized_body_is_413_and_changes_nothing(api: Client, robot: Robot) -> None:
    body = {"msg": "x" * (70 * 1024)}
    response = call(api, "post", "/api/robots/demo/start/", body, **BEARER)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert Robot.objects.get(pk=robot.pk).state == "stopped"
    assert not RobotAudit.objects.filter(robot=robot).exclude(action="create").exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_body_over_djangos_upload_limit_is_413_json_too(api: Client, robot: Robot, content_type: str) -> None:
    body = json.dumps({"msg": "x" * 4096})
    response = api.post(
        "/api/robots/demo/start/", body, content_type=content_type, HTTP_AUTHORIZATION=BEARER["HTTP_AUTHORIZATION"]
    )
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error": {"code": "too_large", "message": ANY}}
    assert Robot.objects.get(pk=robot.pk).state == "stopped"


def test_a_body_of_megabytes_is_413_json_by_its_declared_length(api: Client, robot: Robot) -> None:
    response = api.put(
        "/api/robots/demo/",
        "x" * (3 * 1024 * 1024),
        content_type="application/json",
        HTTP_AUTHORIZATION=BEARER["HTTP_AUTHORIZATION"],
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_get_status_reports_state_chain_cycles_and_totals(api: Client, robot: Robot) -> None:
    Robot.objects.filter(pk=robot.pk).update(total_fetched=5, total_done=4, total_failed=1, cycles_completed=1)
    now = timezone.now()
    RobotCycle.objects.create(robot=robot, number=1, started_at=now, finished_at=now, fetched=5, done=4, failed=1)
    RobotCycle.objects.create(robot=robot, number=2, started_at=now)
    body = call(api, "get", "/api/robots/demo/", **BEARER).json()
    assert body["state"] == "stopped" and body["job_id"] is None and body["next_run_at"] is None
    assert body["cycles_completed"] == 1 and body["timedelta"] == 15 and body["records"] == 20
    assert body["chunk_size"] == 10
    assert body["current_cycle"]["number"] == 2 and body["last_cycle"]["number"] == 1
    assert body["last_cycle"]["error_code"] is None
    assert body["totals"] == {"fetched": 5, "done": 4, "failed": 1, "duplicates": 0, "cancelled": 0}


def test_a_running_cycle_reports_its_counts_live_from_its_records(api: Client, robot: Robot) -> None:
    now = timezone.now()
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=now, fanned_out_at=now, fetched=5, failed=1)
    for source_id, status in (("1", "done"), ("2", "failed"), ("3", "processing"), ("4", "queued")):
        ProcessedRecord.objects.create(robot=robot, cycle=cycle, source_id=source_id, payload={}, status=status)
    current = call(api, "get", "/api/robots/demo/", **BEARER).json()["current_cycle"]
    assert (current["done"], current["failed"], current["cancelled"]) == (1, 2, 0)  # failed: 1 refused + 1 record
    cycle.refresh_from_db()
    assert (cycle.done, cycle.failed) == (0, 1)  # stored only when the cycle finishes


def test_a_failed_cycle_reports_its_error_code_and_sentence(api: Client, robot: Robot) -> None:
    now = timezone.now()
    error = "the source answered HTTP 503"
    RobotCycle.objects.create(
        robot=robot,
        number=1,
        started_at=now,
        finished_at=now,
        status="failed",
        error_code="fetch_http_status",
        error=error,
    )
    (cycle,) = call(api, "get", "/api/robots/demo/cycles/", **BEARER).json()["cycles"]
    assert (cycle["status"], cycle["error_code"], cycle["error"]) == ("failed", "fetch_http_status", error)


@pytest.mark.parametrize(("method", "path"), [endpoint for endpoint in ENDPOINTS[:6] if endpoint[0] != "put"])
def test_unknown_robot_is_404(api: Client, method: str, path: str) -> None:
    response = call(api, method, path.replace("demo", "ghost"), {}, **BEARER)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_put_to_an_unknown_name_creates_so_a_body_without_a_source_is_422_and_creates_nothing(api: Client) -> None:
    response = call(api, "put", "/api/robots/ghost/", {"records": 2}, **BEARER)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert not Robot.objects.filter(name="ghost").exists()


def test_cycles_are_listed_newest_first(api: Client, robot: Robot) -> None:
    now = timezone.now()
    for number in (1, 2, 3):
        RobotCycle.objects.create(robot=robot, number=number, started_at=now, finished_at=now, fetched=number)
    body = call(api, "get", "/api/robots/demo/cycles/?limit=2", **BEARER).json()
    assert [c["number"] for c in body["cycles"]] == [3, 2]
    assert set(body["cycles"][0]) >= {"started_at", "finished_at", "fetched", "dispatched", "done", "failed"}
    assert call(api, "get", "/api/robots/demo/cycles/?limit=x", **BEARER).status_code == 422


def test_start_with_the_original_body_updates_and_starts(api: Client, robot: Robot, redis_conn: redis.Redis) -> None:
    body = {"timedelta": 15, "records": 25, "msg": "start regular job", "rplstatus": "START"}
    response = call(api, "post", "/api/robots/demo/start/", body, **BEARER)
    robot.refresh_from_db()
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "state": "running",
        "job_id": robot.chain_token,
        "queue": "robot",
        "next_run_at": robot.next_run_at.isoformat() if robot.next_run_at else None,
    }
    assert (robot.batch_size, robot.msg) == (25, "start regular job")
    assert Job.exists(robot.chain_token, connection=redis_conn)


def test_start_of_a_running_robot_is_422_already_running(api: Client, robot: Robot) -> None:
    call(api, "post", "/api/robots/demo/start/", **BEARER)
    response = call(api, "post", "/api/robots/demo/start/", {"records": 50}, **BEARER)
    assert response.status_code == 422
    assert response.json()["ok"] is False and response.json()["error"]["code"] == "already_running"
    assert Robot.objects.get(pk=robot.pk).batch_size == 20


@pytest.mark.parametrize(
    "body",
    [{"timedelta": 0}, {"records": 10_001}, {"timedelta": "15"}, {"records": None}, {"rplstatus": "STOP"}]
    + [{"timedelta": [15]}, {"msg": {"a": 1}}, {"source_url": "http://elsewhere/"}, {"chunk_size": 0}],
)
def test_start_with_bad_values_is_422_and_does_not_start(api: Client, robot: Robot, body: dict[str, Any]) -> None:
    response = call(api, "post", "/api/robots/demo/start/", body, **BEARER)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid"
    assert Robot.objects.get(pk=robot.pk).state == "stopped"


HOSTILE_QUERY_VALUES = ["%C2%B2", "%D9%A3", "-1", "1e9", "9" * 5000, "99999999999999999999", "%ED%A0%80", "", "0"]
# A lone surrogate ("\ud800") is refused earlier, as malformed JSON (tests/test_strictjson.py).
HOSTILE_JSON_VALUES = ["²", "٣", -1, 1e9, 10**30, "", "1", True, 0]


@pytest.mark.parametrize("value", HOSTILE_QUERY_VALUES)
def test_cycles_limit_answers_hostile_numbers_with_422_json(api: Client, robot: Robot, value: str) -> None:
    response = call(api, "get", f"/api/robots/demo/cycles/?limit={value}", **BEARER)
    assert response.status_code == 422 and response.json()["error"]["fields"].keys() == {"limit"}


@pytest.mark.parametrize("field", ["records", "timedelta"])
@pytest.mark.parametrize("value", HOSTILE_JSON_VALUES)
@pytest.mark.parametrize(("method", "path"), [("put", "/api/robots/demo/"), ("post", "/api/robots/demo/start/")])
def test_numeric_body_fields_answer_hostile_values_with_422_json(
    api: Client, robot: Robot, method: str, path: str, field: str, value: Any
) -> None:
    response = call(api, method, path, {field: value}, **BEARER)
    assert response.status_code == 422 and response.json()["error"]["fields"].keys() == {field}
    assert Robot.objects.filter(pk=robot.pk, batch_size=20, interval=15, state="stopped").exists()


def test_an_integer_too_long_for_python_is_400_malformed(api: Client, robot: Robot) -> None:
    body = '{"records": ' + "9" * 5000 + "}"
    response = api.post(
        "/api/wstart", body, content_type="application/json", HTTP_AUTHORIZATION=BEARER["HTTP_AUTHORIZATION"]
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed"


def test_stop_is_200_and_idempotent_and_now_must_be_boolean(api: Client, robot: Robot) -> None:
    call(api, "post", "/api/robots/demo/start/", **BEARER)
    first = call(api, "post", "/api/robots/demo/stop/", **BEARER)
    again = call(api, "post", "/api/robots/demo/stop/", {"now": True}, **BEARER)
    bad = call(api, "post", "/api/robots/demo/stop/", {"now": "yes"}, **BEARER)
    assert (first.status_code, again.status_code, bad.status_code) == (200, 200, 422)
    assert first.json()["state"] == "stopped" and first.json()["job_id"] is None
    assert list(RobotAudit.objects.order_by("id").values_list("action", flat=True)) == ["start", "stop", "stop_now"]


def test_run_starts_one_cycle_and_is_409_while_a_cycle_is_in_progress(
    api: Client, robot: Robot, redis_conn: redis.Redis
) -> None:
    ran = call(api, "post", "/api/robots/demo/run/", **BEARER)
    assert ran.status_code == 200 and Job.exists(ran.json()["job_id"], connection=redis_conn)
    RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    refused = call(api, "post", "/api/robots/demo/run/", **BEARER)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "cycle_in_progress"


def test_wrong_methods_are_405(api: Client, robot: Robot) -> None:
    assert call(api, "get", "/api/robots/demo/start/", **BEARER).status_code == 405
    assert call(api, "delete", "/api/robots/demo/", **BEARER).status_code == 405
    assert call(api, "post", "/api/wstop", **BEARER).status_code == 405


def test_legacy_wstart_and_wstop_drive_the_default_robot(api: Client, robot: Robot) -> None:
    assert call(api, "get", "/api/wstart", **BEARER).json()["status"] == "NotFound"
    started = call(
        api, "post", "/api/wstart", {"timedelta": 15, "records": 25, "msg": "m", "rplstatus": "START"}, **BEARER
    )
    found = call(api, "get", "/api/wstart", **BEARER).json()
    again = call(api, "post", "/api/wstart", {"timedelta": 15}, **BEARER)
    stopped = call(api, "delete", "/api/wstop", **BEARER)
    assert started.status_code == 200 and again.status_code == 422
    assert found["status"] == "Found" and found["job_id"] == started.json()["job_id"]
    assert stopped.status_code == 200 and Robot.objects.get(pk=robot.pk).state == "stopped"
    assert call(api, "get", "/api/wstart", **BEARER).json()["status"] == "NotFound"
    assert set(RobotAudit.objects.values_list("source", flat=True)) == {"legacy_api"}


def test_legacy_endpoints_without_the_default_robot_are_404(api: Client) -> None:
    assert call(api, "post", "/api/wstart", **BEARER).status_code == 404
    assert call(api, "delete", "/api/wstop", **BEARER).status_code == 404


def test_start_while_redis_is_down_is_not_a_500_and_the_sweeper_repairs_it_later(
    api: Client, robot: Robot, redis_conn: redis.Redis
) -> None:
    with override_settings(RQ_QUEUES=queues_at()):
        response = call(api, "post", "/api/robots/demo/start/", **BEARER)
    robot.refresh_from_db()
    assert response.status_code == 200 and robot.state == "running"
    assert not Job.exists(robot.chain_token, connection=redis_conn)
    Robot.objects.filter(pk=robot.pk).update(next_run_at=timezone.now() - timedelta(seconds=10))
    assert services.robot_heal_all() == 1
    robot.refresh_from_db()
    assert Job.exists(robot.chain_token, connection=redis_conn)


def test_put_refuses_url_credentials_and_never_echoes_them(api: Client) -> None:
    body = {"source_url": "https://feeder:hunter2@feed.example/", "target_url": "https://t:hunter2@t.example/"}
    response = call(api, "put", "/api/robots/creds/", body, **BEARER)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"source_url", "target_url"} and "source_secret" in fields["source_url"][0]
    assert b"hunter2" not in response.content
    assert not Robot.objects.exists() and not RobotAudit.objects.exists()


def test_put_refuses_an_address_the_public_policy_refuses_unless_allow_listed(api: Client) -> None:
    body = {"source_url": "http://10.0.0.5/feed"}
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=[]):
        refused = call(api, "put", "/api/robots/inside/", body, **BEARER)
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=["10.0.0.0/8"]):
        allowed = call(api, "put", "/api/robots/inside/", body, **BEARER)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["source_url"] == [
        "The address 10.0.0.5 is private; an operator may allow it in ROBOT_OUTBOUND_ALLOW."
    ]
    assert allowed.status_code == 201


def test_put_names_secrets_and_the_answer_says_whether_they_are_set_never_their_values(
    api: Client, stub: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_FEED", "Bearer value-of-the-secret")
    monkeypatch.delenv("ROBOT_SECRET_SINK", raising=False)
    body = {"source_url": stub.url, "source_secret": "ROBOT_SECRET_FEED", "target_secret": "ROBOT_SECRET_SINK"}
    response = call(api, "put", "/api/robots/keyed/", body, **BEARER)
    status = call(api, "get", "/api/robots/keyed/", **BEARER)
    assert response.status_code == 201
    found = {key: status.json()[key] for key in ("source_secret", "source_secret_set", "target_secret")}
    assert found == {
        "source_secret": "ROBOT_SECRET_FEED",
        "source_secret_set": True,
        "target_secret": "ROBOT_SECRET_SINK",
    }
    assert status.json()["target_secret_set"] is False
    assert b"value-of-the-secret" not in response.content + status.content
    assert "value-of-the-secret" not in RobotAudit.objects.get().detail
    assert "source_secret=ROBOT_SECRET_FEED" in RobotAudit.objects.get().detail


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "ROBOT_API_TOKEN", "robot_secret_x"])
def test_put_refuses_a_secret_name_outside_the_robot_secret_prefix(api: Client, stub: HttpStub, name: str) -> None:
    response = call(api, "put", "/api/robots/keyed/", {"source_url": stub.url, "target_secret": name}, **BEARER)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"target_secret"}
    assert not Robot.objects.exists()


def test_a_url_stored_with_credentials_before_they_were_refused_is_shown_redacted(api: Client) -> None:
    Robot.objects.create(
        name="old", source_url="https://feeder:hunter2@feed.example/", target_url="https://t:pw@t.example/"
    )
    status = call(api, "get", "/api/robots/old/", **BEARER).json()
    assert (status["source_url"], status["target_url"]) == ("https://***@feed.example/", "https://***@t.example/")
