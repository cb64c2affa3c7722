"""Benchmark settings: local settings plus a URLconf with a bare Django view (the anchor)."""

from __future__ import annotations

from asyncportal.settings.local import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
from asyncportal.settings.local import RQ_QUEUES  # noqa: E402

RQ_QUEUES = {**RQ_QUEUES, "bench": RQ_QUEUES["records"]}
