"""Queue names and the serializer path: plain constants, so settings can import them before Django is set up."""

from __future__ import annotations

REGISTRATIONS = "registrations"
ROBOT = "robot"
RECORDS = "records"
ALL = (REGISTRATIONS, ROBOT, RECORDS)
# JSON everywhere: a job's arguments are ids and strings, never pickled objects.
SERIALIZER = "rq.serializers.JSONSerializer"
