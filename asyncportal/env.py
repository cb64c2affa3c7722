"""The one place that reads the process environment.

Every setting that an operator may change is read here, typed, with its local default; the settings
modules import these values and nothing else touches ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of `make run` (SQLite, private Redis data); VAR_DIR moves it, e.g. for a throwaway run in tests.
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")

_env = environ.Env()

# A developer's .env (copied from .env.example) fills in what the real environment leaves unset.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def str_(name: str, default: str = "") -> str:
    """Return the string value of ``name``, or ``default`` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def int_(name: str, default: int) -> int:
    """Return ``name`` as an int; a malformed value fails loudly at boot."""
    raw = os.environ.get(name, "")
    return int(raw) if raw != "" else default


def float_(name: str, default: float) -> float:
    """Return ``name`` as a float; a malformed value fails loudly at boot."""
    raw = os.environ.get(name, "")
    return float(raw) if raw != "" else default


def bool_(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def list_(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name, "")
    if raw == "":
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret(name: str) -> str:
    """Return secret ``name`` now (robot credentials: read per request, never cached, stored or logged)."""
    return os.environ.get(name, "")


def is_set(name: str) -> bool:
    return os.environ.get(name, "") != ""


def database(default_sqlite: Path) -> dict[str, Any]:
    """Return the ``default`` database from ``DATABASE_URL``, else SQLite at ``default_sqlite``."""
    if is_set("DATABASE_URL"):
        config: dict[str, Any] = _env.db_url("DATABASE_URL")
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite)}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE makes every atomic block take SQLite's write lock up front, so two
        # transactions cannot both read "stopped" and then both write "running".
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django turns psycopg's prepared statements off (for poolers); its own cursors bind on the client and never
        # prepare anyway, so this reaches only asyncportal.prepared's server-binding cursor. 0 turns it off.
        threshold = int_("DATABASE_PREPARE_THRESHOLD", 5)
        config.setdefault("OPTIONS", {}).setdefault("prepare_threshold", threshold if threshold > 0 else None)
    # Kept on SQLite too: opening the file (its PRAGMAs) and closing it (the last close checkpoints the WAL)
    # cost a web request more than its own queries did.
    config.setdefault("CONN_MAX_AGE", int_("DATABASE_CONN_MAX_AGE", 60))
    config["CONN_HEALTH_CHECKS"] = True
    return config


def redis_url_with_timeouts(url: str, *, socket_timeout: int, connect_timeout: int) -> str:
    """Return ``url`` with socket timeouts as query parameters, unless the URL already sets them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(socket_timeout))
    query.setdefault("socket_connect_timeout", str(connect_timeout))
    return urlunsplit(parts._replace(query=urlencode(query)))


def email() -> dict[str, Any]:
    """Return Django email settings from ``EMAIL_URL`` (console backend when unset)."""
    if not is_set("EMAIL_URL"):
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parsed: dict[str, Any] = _env.email_url("EMAIL_URL")
    return parsed
