from __future__ import annotations

import json
import uuid

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from asyncportal import queues
from registration.models import Registration, Status

FIELDS = ("first_name", "last_name", "login", "email", "phone")


def bare(request: HttpRequest) -> HttpResponse:
    """The anchor: a Django view that does nothing."""
    return HttpResponse(b"ok", content_type="text/plain")


# Not a product path: the bench's yardstick for how fast any durable Django + RQ intake can be on this server.
@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    """The least a durable intake does: read the JSON body, one INSERT (autocommit), one RQ enqueue; no checks."""
    body = json.loads(request.body)
    row_id, job_id = uuid.uuid4(), uuid.uuid4().hex
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(Registration._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, {', '.join(FIELDS)}, status, reason, job_id, attempts, created_at, updated_at, "
            "enqueued_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s, 0, %s, %s, %s)",
            [row_id.hex, *(body[name] for name in FIELDS), Status.QUEUED, job_id, now, now, now],
        )
    queues.enqueue(queues.get_queue("bench"), "bench.jobs.noop", args=[row_id.hex], job_id=job_id)
    return JsonResponse({"id": str(row_id), "job_id": job_id}, status=202)


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare),
    path("bench/floor/", floor),
    path("", include("asyncportal.urls")),
]
