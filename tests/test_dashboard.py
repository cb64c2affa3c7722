"""The django-rq dashboard: staff may look, only the queue permission (or superuser) may change queues."""

from __future__ import annotations

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from rq import Queue
from rq.job import Job, JobStatus

from asyncportal.dashboard import may_operate_queues

pytestmark = pytest.mark.django_db
# Queue index 0 is the first queue name in sorted order (django-rq's numbering).
QUEUE = "records"
PREFIXES = ["/django-rq", "/admin/django_rq/dashboard"]


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff() -> Client:
    return logged_in(User.objects.create_user("staff", password="x", is_staff=True))


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_user("operator", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    return logged_in(user)


@pytest.fixture
def queue() -> Queue:
    return django_rq.get_queue(QUEUE)


def enqueue(queue: Queue, job_id: str = "job-1") -> Job:
    return queue.enqueue("tests.worker_jobs.whoami", job_id=job_id)


def test_the_permission_is_named_and_held_by_superusers() -> None:
    perm = Permission.objects.get(codename="manage_queues")
    assert (perm.content_type.app_label, perm.name) == ("robot", "Can operate RQ queues")
    assert may_operate_queues(User.objects.create_superuser("root", password="x"))
    assert not may_operate_queues(User.objects.create_user("staff", password="x", is_staff=True))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_staff_see_the_queue_but_cannot_empty_it(staff: Client, queue: Queue, prefix: str) -> None:
    enqueue(queue)
    assert staff.get(f"{prefix}/queues/0/").status_code == 200
    assert staff.get(f"{prefix}/queues/0/empty/").status_code == 403
    assert staff.post(f"{prefix}/queues/0/empty/").status_code == 403
    assert queue.job_ids == ["job-1"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_queue_permission_empties_the_queue(operator: Client, queue: Queue, prefix: str) -> None:
    enqueue(queue)
    assert operator.post(f"{prefix}/queues/0/empty/").status_code == 302
    assert queue.job_ids == []


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/django-rq/queues/0/job-1/delete/", {}),
        ("/django-rq/queues/0/job-1/requeue/", {}),
        ("/django-rq/queues/0/requeue-all/", {}),
        ("/django-rq/queues/0/failed/clear/", {}),
        ("/django-rq/queues/actions/0/", {"action": "requeue", "job_ids": ["job-1"]}),
        ("/django-rq/queues/actions/0/", {"action": "delete", "job_ids": ["job-1"]}),
    ],
)
def test_staff_cannot_requeue_or_delete_a_failed_job(
    staff: Client, queue: Queue, path: str, data: dict[str, object]
) -> None:
    job = enqueue(queue)
    queue.remove(job)
    queue.failed_job_registry.add(job, exc_string="boom")
    assert staff.post(path, data).status_code == 403
    assert queue.failed_job_registry.get_job_ids() == ["job-1"] and queue.job_ids == []
    assert Job.exists("job-1", connection=queue.connection)


def test_the_queue_permission_requeues_a_failed_job_once(operator: Client, queue: Queue) -> None:
    job = enqueue(queue)
    queue.remove(job)
    job.set_status(JobStatus.FAILED)
    queue.failed_job_registry.add(job, exc_string="boom")
    assert operator.post("/django-rq/queues/0/job-1/requeue/").status_code == 302
    assert queue.job_ids == ["job-1"] and queue.failed_job_registry.get_job_ids() == []
    # A second click finds the job no longer failed: 409, not django-rq's 500.
    assert operator.post("/django-rq/queues/0/job-1/requeue/").status_code == 409


@pytest.mark.parametrize("path", ["/django-rq/queues/0/nope/", "/django-rq/queues/9/", "/django-rq/workers/0/nope/"])
def test_unknown_jobs_queues_and_workers_are_404_not_500(operator: Client, path: str) -> None:
    assert operator.get(path).status_code == 404


@override_settings(RQ_API_TOKEN="s3cret-token-s3cret-token-s3cret")
@pytest.mark.parametrize("header", ["Bearer é", "Bearer \x7f", "Basic s3cret", "Bearer "])
def test_metrics_answer_a_malformed_authorization_header_with_401(header: str) -> None:
    response = Client().get("/django-rq/metrics/", headers={"Authorization": header})
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="metrics"'
