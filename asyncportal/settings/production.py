"""Production settings: refuse to boot with anything insecure or missing."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from asyncportal import env
from asyncportal.settings.base import *  # noqa: F403

_REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL")
_missing = [name for name in _REQUIRED if not env.is_set(name)]
if _missing:
    raise ImproperlyConfigured(f"Production settings need these environment variables: {', '.join(_missing)}")

SECRET_KEY = env.str_("SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")
if "*" in env.list_("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the hosts, not '*'.")

DEBUG = False
# An anonymous endpoint serving generated data has no place on the internet unless an operator asks for it.
ROBOT_DEMO_FEED = env.bool_("ROBOT_DEMO_FEED", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool_("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env.int_("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool_("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
