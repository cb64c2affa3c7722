"""Test settings: like local, plus a file-backed SQLite test database that worker subprocesses can share."""

from __future__ import annotations

from asyncportal.settings.local import *  # noqa: F403
from asyncportal.settings.local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so `manage.py rqworker` subprocesses see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
