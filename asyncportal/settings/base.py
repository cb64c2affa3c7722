"""Settings shared by every environment. Values an operator may change come from ``asyncportal.env``."""

from __future__ import annotations

from asyncportal import env, queue_names

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR

SECRET_KEY = env.str_("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS: list[str] = env.list_("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS: list[str] = env.list_("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    # Serves the API docs' Swagger UI from the static files, not a CDN (asyncportal/api.py).
    "ninja",
    "asyncportal",
    "registration",
    "robot",
]

MIDDLEWARE = [
    # First, so probes answer before host validation and the SSL redirect (pods probe by IP, over HTTP).
    "asyncportal.health.HealthCheckMiddleware",
    # Skips Django's per-request "SELECT 1" on a quiet PostgreSQL connection (after the probes, which check).
    "asyncportal.dbhealth.QuietConnectionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "asyncportal.urls"
WSGI_APPLICATION = "asyncportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.database(VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Email: console backend unless EMAIL_URL (smtp://, smtp+tls://, smtp+ssl://) is set.
vars().update(env.email())
DEFAULT_FROM_EMAIL = env.str_("DEFAULT_FROM_EMAIL", "asyncportal <noreply@localhost>")

EMAIL_TIMEOUT = env.int_("EMAIL_TIMEOUT", 10)

# Redis and queues. One connection for all queues; JSON serializer everywhere (never pickle).
REDIS_URL = env.str_("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_SERIALIZER = queue_names.SERIALIZER
RQ_JOB_TIMEOUT = env.int_("RQ_JOB_TIMEOUT", 180)
# asyncportal.workers.RecyclingSimpleWorker starts afresh after this many jobs (0: never), bounding memory.
RQ_WORKER_MAX_JOBS = env.int_("RQ_WORKER_MAX_JOBS", 5000)
RQ_QUEUES = {
    name: {
        # django-rq ignores SOCKET_TIMEOUT next to URL, so the timeouts ride in the URL: an unreachable
        # Redis must make a submission answer "pending" quickly, not hang the request.
        "URL": env.redis_url_with_timeouts(REDIS_URL, socket_timeout=5, connect_timeout=3),
        "DEFAULT_TIMEOUT": RQ_JOB_TIMEOUT,
        "SERIALIZER": RQ_SERIALIZER,
    }
    for name in queue_names.ALL
}
# What a registration submission may spend on Redis, per call and in total (no retries): a hung Redis must
# leave the submission stored and "pending" well within a second; the sweeper enqueues it later.
RQ_ENQUEUE_DEADLINE = env.float_("RQ_ENQUEUE_DEADLINE", 0.25)
# We enqueue from our own transaction.on_commit callbacks; django-rq's deferral on top would return None.
# Our worker class reconnects to a Redis that came back within seconds (asyncportal/workers.py).
RQ = {"COMMIT_MODE": "auto", "WORKER_CLASS": "asyncportal.workers.Worker"}
RQ_API_TOKEN = env.str_("RQ_API_TOKEN")
RQ_SHOW_ADMIN_LINK = True

# Registration.
REGISTRATION_DEMO_DELAY = env.str_("REGISTRATION_DEMO_DELAY", "0")
# Seconds an Idempotency-Key of POST /api/registrations/ is remembered (docs/api.md).
REGISTRATION_IDEMPOTENCY_TTL = env.int_("REGISTRATION_IDEMPOTENCY_TTL", 24 * 3600)
REGISTRATION_MAX_BODY_BYTES = env.int_("REGISTRATION_MAX_BODY_BYTES", 16 * 1024)
# How long a worker owns a registration it took; past it the sweeper hands it to a new job (check E003).
REGISTRATION_LEASE_SECONDS = env.int_("REGISTRATION_LEASE_SECONDS", 30)
# Submissions (form and API POSTs together) one client address may make: "20/m" (per s, m or h); "0" is off.
REGISTRATION_RATE_LIMIT = env.str_("REGISTRATION_RATE_LIMIT", "20/m")
# Seconds the limiter may spend on Redis per submission, connect included; past it the submission is let through.
REGISTRATION_RATE_LIMIT_TIMEOUT = env.float_("REGISTRATION_RATE_LIMIT_TIMEOUT", 0.1)
# Proxies (IPs or CIDRs) whose X-Forwarded-For names the client; from anyone else the header is ignored.
TRUSTED_PROXIES: list[str] = env.list_("TRUSTED_PROXIES")

# Readiness: the checks whose failure makes /readyz answer 503 (the others only mark it "degraded").
READINESS_REQUIRED: list[str] = env.list_("READINESS_REQUIRED", ["database", "redis"])

# Sweeper: how often it re-enqueues what Redis lost and re-arms robots whose chain is gone.
SWEEP_INTERVAL = env.int_("SWEEP_INTERVAL", 10)

# Robot.
ROBOT_API_TOKEN = env.str_("ROBOT_API_TOKEN")
DEFAULT_ROBOT = env.str_("DEFAULT_ROBOT", "demo")
ROBOT_FETCH_TIMEOUT = env.int_("ROBOT_FETCH_TIMEOUT", 10)
ROBOT_FETCH_MAX_BYTES = env.int_("ROBOT_FETCH_MAX_BYTES", 10 * 1024 * 1024)
ROBOT_POST_TIMEOUT = env.int_("ROBOT_POST_TIMEOUT", 10)
ROBOT_RECORD_RETRIES = env.int_("ROBOT_RECORD_RETRIES", 3)
# How many records of one chunk a record worker POSTs at once (1 = one after the other).
ROBOT_DELIVERY_CONCURRENCY = env.int_("ROBOT_DELIVERY_CONCURRENCY", 8)
# PostgreSQL: whether a record's claim and outcome wait for the WAL flush (robot/services/record_sql.py). Off, a
# database crash may forget the last moments of record progress, which is re-sent under the same Idempotency-Key.
ROBOT_RECORD_SYNCHRONOUS_COMMIT = env.bool_("ROBOT_RECORD_SYNCHRONOUS_COMMIT", False)
# Where robots may connect (docs/security.md): "public" refuses private, loopback, link-local, multicast,
# reserved and other non-public addresses; "any" allows them. Both refuse cloud metadata endpoints unless the
# allow-list (addresses, CIDRs, host names) names them.
ROBOT_OUTBOUND_POLICY = env.str_("ROBOT_OUTBOUND_POLICY", "public")
ROBOT_OUTBOUND_ALLOW: list[str] = env.list_("ROBOT_OUTBOUND_ALLOW")
# How often the sweeper's ticker starts due cycles: the precision of the pause between cycles.
ROBOT_TICK_SECONDS = env.float_("ROBOT_TICK_SECONDS", 0.01)
WORKERS = env.int_("WORKERS", 2)
# The anonymous demo feed (/api/demo/todos/) the demo robot reads: off unless a settings module turns it on.
ROBOT_DEMO_FEED = env.bool_("ROBOT_DEMO_FEED", False)
ROBOT_DEMO_FEED_MAX_ITEMS = env.int_("ROBOT_DEMO_FEED_MAX_ITEMS", 1000)

# Retention, in days (0: keep forever); the sweeper prunes at most once per PRUNE_INTERVAL seconds. A record's
# robot, source id and status (the de-duplication state) are never pruned, only its payload and error text.
ROBOT_PAYLOAD_RETENTION_DAYS = env.int_("ROBOT_PAYLOAD_RETENTION_DAYS", 7)
ROBOT_CYCLE_RETENTION_DAYS = env.int_("ROBOT_CYCLE_RETENTION_DAYS", 90)
ROBOT_AUDIT_RETENTION_DAYS = env.int_("ROBOT_AUDIT_RETENTION_DAYS", 365)
# Finished (done, failed, rejected) registrations only; one in flight is never deleted.
REGISTRATION_RETENTION_DAYS = env.int_("REGISTRATION_RETENTION_DAYS", 30)
# RQ's failed-job registries of every queue (a failure text can hold an address).
RQ_FAILED_JOB_RETENTION_DAYS = env.int_("RQ_FAILED_JOB_RETENTION_DAYS", 7)
PRUNE_INTERVAL = env.int_("PRUNE_INTERVAL", 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": env.str_("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "rq.worker": {"level": "INFO", "propagate": True},
        # httpx logs every request at INFO: one line per record is noise, and URLs may carry tokens.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
