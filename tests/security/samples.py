"""Objects and clients the access matrix fills URLs from and sends requests as: one of each, reused by every case."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import django_rq
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_rq.settings import get_queues_list
from rq.job import Job, JobStatus
from rq.results import Result
from rq.worker import Worker

from registration.models import Registration
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from tests.registration.factories import make_registration
from tests.security.rules import ROLES, SESSION_ROLES

ROBOT_TOKEN = "r" * 40
RQ_TOKEN = "q" * 40
JOB_ID = "matrix-job"
WORKER = "matrix-worker"
OPERATOR_PERMISSIONS = ("view_robot", "change_robot", "manage_queues")
TOKENS = {"robot_token": ROBOT_TOKEN, "rq_token": RQ_TOKEN, "wrong_token": "w" * 40}


@dataclass
class Samples:
    """A user per role, one object per model, a failed job with a result and a registered worker."""

    users: dict[str, User]
    pks: dict[str, int | str]
    registration: Registration
    clients: dict[str, Client] = field(default_factory=dict)
    csrf = get_random_string(32)
    result_id = ""

    def client(self, role: str) -> Client:
        if role not in self.clients:
            self.clients[role] = Client(enforce_csrf_checks=True, raise_request_exception=False)
            self.login(role)
        return self.clients[role]

    def login(self, role: str) -> None:
        if role in self.users:
            self.clients[role].force_login(self.users[role])
        self.clients[role].cookies[settings.CSRF_COOKIE_NAME] = self.csrf

    def headers(self, role: str, csrf: bool = True) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role in TOKENS else {}
        return {**headers, "X-CSRFToken": self.csrf} if csrf else headers

    def value(self, name: str, route: str) -> Any:
        """Return the sample for URL kwarg ``name`` in ``route`` (object ids by the admin model in the route)."""
        model = re.search(r"admin/(\w+/\w+)/", route)
        if name in ("object_id", "id") and model:
            return self.pks[model.group(1)]
        return {
            "queue_index": 0,
            "scheduler_index": 0,
            "connection_index": 0,
            "job_id": JOB_ID,
            "result_id": self.result_id,
            "key": Worker.redis_worker_namespace_prefix + WORKER,
            "scheduler_name": "matrix-cron",
            "cron_job_name": "tests.worker_jobs.whoami",
            "name": "demo",
            "number": 1,
            "registration_id": self.registration.pk,
            "operation": "start",
            "app_label": "robot",
            "content_type_id": ContentType.objects.get_for_model(Registration).pk,
            "object_id": self.registration.pk,
            "url": "nowhere/",
        }[name]

    def reset_queue(self) -> None:
        """Put back the failed sample job (and its result) if a previous case deleted or requeued it."""
        queue = django_rq.get_queue(get_queues_list()[0]["name"])
        if Job.exists(JOB_ID, connection=queue.connection):
            job = Job.fetch(JOB_ID, connection=queue.connection, serializer=queue.serializer)
            if job.get_status() == JobStatus.FAILED and job in queue.failed_job_registry:
                return
            queue.remove(job)
            job.delete()
        job = queue.create_job("tests.worker_jobs.whoami", job_id=JOB_ID, result_ttl=3600, failure_ttl=3600)
        job.save()
        job.set_status(JobStatus.FAILED)
        queue.failed_job_registry.add(job, ttl=3600, exc_string="matrix sample")
        self.result_id = str(Result.create(job, Result.Type.SUCCESSFUL, ttl=3600, return_value=1).id)
        worker = Worker([queue], connection=queue.connection, name=WORKER)
        if not worker.connection.exists(worker.key):
            worker.register_birth()  # type: ignore[no-untyped-call]


def make_samples() -> Samples:
    users = {
        "member": User.objects.create_user("member", password="x"),
        "staff": User.objects.create_user("staff", password="x", is_staff=True),
        "operator": User.objects.create_user("operator", password="x", is_staff=True),
        "superuser": User.objects.create_superuser("root", password="x"),
    }
    perms = Permission.objects.filter(content_type__app_label="robot", codename__in=OPERATOR_PERMISSIONS)
    assert perms.count() == len(OPERATOR_PERMISSIONS)
    users["operator"].user_permissions.set(perms)
    robot = Robot.objects.create(name="demo", source_url="http://127.0.0.1:9/todos")
    now = timezone.now()
    cycle = RobotCycle.objects.create(
        robot=robot, number=1, status=RobotCycle.Status.FINISHED, started_at=now, finished_at=now
    )
    record = ProcessedRecord.objects.create(robot=robot, cycle=cycle, source_id="1", payload={})
    audit = RobotAudit.objects.create(robot=robot, action=RobotAudit.Action.CREATE, source=RobotAudit.Source.ADMIN)
    registration = make_registration(login=f"m{uuid.uuid4().hex[:8]}")
    pks: dict[str, int | str] = {
        "auth/user": users["member"].pk,
        "auth/group": Group.objects.create(name="operators").pk,
        "registration/registration": str(registration.pk),
        "robot/robot": robot.pk,
        "robot/robotcycle": cycle.pk,
        "robot/processedrecord": record.pk,
        "robot/robotaudit": audit.pk,
    }
    assert set(SESSION_ROLES) <= set(users) and set(ROLES) == {"anonymous", *users, *TOKENS}
    return Samples(users=users, pks=pks, registration=registration)
