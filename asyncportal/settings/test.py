"""Test settings: like local, plus a file-backed SQLite test database that worker subprocesses can share."""

from __future__ import annotations

import os

from asyncportal.settings.local import *  # noqa: F403
from asyncportal.settings.local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so `manage.py rqworker` subprocesses (given its path in DATABASE_URL) see the
    # same test database; one file per test run, so two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
