"""Laptop settings: safe defaults, no secret needed, everything on loopback."""

from __future__ import annotations

from asyncportal import env
from asyncportal.settings.base import *  # noqa: F403
from asyncportal.settings.base import VAR_DIR

DEBUG = env.bool_("DEBUG", True)
# A fixed, obviously local key: local settings are never used in production (production.py refuses).
SECRET_KEY = env.str_("SECRET_KEY", "local-only-insecure-key-do-not-deploy")
ALLOWED_HOSTS = env.list_("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
VAR_DIR.mkdir(exist_ok=True)
# make run's demo robot reads the built-in feed.
ROBOT_DEMO_FEED = env.bool_("ROBOT_DEMO_FEED", True)

# No collectstatic on a laptop: whitenoise serves straight from the app directories.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The demo robot reads the portal's own feed on loopback, and test servers listen there: allow any address.
ROBOT_OUTBOUND_POLICY = env.str_("ROBOT_OUTBOUND_POLICY", "any")
