"""Who may do what, per URL pattern: the table the access matrix checks every pattern of the URLconf against.

A new endpoint adds one line to ``RULES``: a regex that fully matches the pattern's key (``namespace:name``, or
``route:<route>`` for an unnamed pattern) and the ``Policy`` it answers by. A pattern no rule matches fails the
matrix, so nothing reaches production without a line here. Outcomes:

- ``ok``: allowed — 2xx, a 3xx that is not the login page, or a validation answer (400, 409, 413, 415, 422);
- ``login``: 302 to the admin login page; ``deny``: 401 or 403; ``gone``: 404; ``405``: method not allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

ROLES = ("anonymous", "member", "staff", "operator", "superuser", "robot_token", "rq_token", "wrong_token")
SESSION_ROLES = ("member", "staff", "operator", "superuser")
STAFF = ("staff", "operator", "superuser")
OPS = ("operator", "superuser")
SUPER = ("superuser",)
NOBODY: tuple[str, ...] = ()
Table = dict[str, str]


def by_role(default: str, **roles: str) -> Table:
    return {role: roles.get(role, default) for role in ROLES}


def allow(allowed: Iterable[str], refused: str = "deny", outsider: str = "deny") -> Table:
    """Staff roles in ``allowed`` get ``ok``, other staff ``refused``; everyone else ``outsider``."""
    allowed = set(allowed)
    return by_role(outsider, **{role: "ok" if role in allowed else refused for role in STAFF})


@dataclass(frozen=True)
class Policy:
    get: Table
    post: Table
    # Further methods the view handles (PUT, DELETE, HEAD), each with its own table.
    extra: dict[str, Table] = field(default_factory=dict)
    # Session requests with an unsafe method and no CSRF token are refused (False: a public JSON API).
    csrf: bool = True
    # The request ends the session (logout): log the role in again afterwards.
    relogin: bool = False

    def methods(self) -> dict[str, Table]:
        return {"GET": self.get, "POST": self.post, **self.extra}


EVERYONE = by_role("ok")
NOT_ALLOWED = by_role("405")
# The robot API: a staff session with the robot permission, or the robot token (robot/api.py).
ROBOT = by_role("deny", operator="ok", superuser="ok", robot_token="ok")
# The admin site and the dashboard: staff only, others go to the login page.
ADMIN_STAFF = allow(STAFF, outsider="login")


def admin(get: Iterable[str], post: Iterable[str] | None = None) -> Policy:
    """An admin page: outsiders to the login page; staff roles outside ``get``/``post`` get 403."""
    return Policy(allow(get, outsider="login"), allow(get if post is None else post, outsider="login"))


DASHBOARD_READ = Policy(ADMIN_STAFF, allow(OPS, outsider="login"))
DASHBOARD_OPERATION = admin(OPS)
DASHBOARD_ABSENT = Policy(allow(NOBODY, "gone", "login"), allow(NOBODY, "gone", "login") | {"staff": "deny"})
API_DOCS = Policy(ADMIN_STAFF, ADMIN_STAFF, csrf=False)
METRICS = Policy(by_role("deny", staff="ok", operator="ok", superuser="ok", rq_token="ok"), NOT_ALLOWED, csrf=False)

RQ = r"(django_rq:|admin:django_rq_)"
RQ_READ = "home|jobs|queue_details|finished_jobs|failed_jobs|scheduled_jobs|started_jobs|deferred_jobs|job_detail"
RQ_OPERATIONS = "clear|requeue_all|delete_failed_jobs|delete_job|requeue_job|enqueue_job|confirm_action|actions"
READ_ONLY_MODELS = "robot_robotcycle|robot_processedrecord|robot_robotaudit"
SUPERUSER_MODELS = "auth_user|auth_group|registration_registration"

RULES: list[tuple[str, Policy]] = [
    # Registration: public form and API.
    (r"registration:(home|register)", Policy(EVERYONE, EVERYONE, extra={"HEAD": EVERYONE})),
    (r"registration:status", Policy(EVERYONE, NOT_ALLOWED, extra={"HEAD": EVERYONE})),
    (r"api:registration-create", Policy(NOT_ALLOWED, EVERYONE, csrf=False)),
    (r"api:registration-status", Policy(EVERYONE, NOT_ALLOWED, csrf=False)),
    # Robot API: view_robot to read, change_robot to act; the robot token may do both.
    (r"api:robot-detail", Policy(ROBOT, NOT_ALLOWED, extra={"PUT": ROBOT})),
    (r"api:robot-cycles", Policy(ROBOT, NOT_ALLOWED)),
    (r"api:robot-(start|stop|run|cycle-retry)", Policy(NOT_ALLOWED, ROBOT)),
    (r"api:legacy-wstart", Policy(ROBOT, ROBOT)),
    (r"api:legacy-wstop", Policy(NOT_ALLOWED, NOT_ALLOWED, extra={"DELETE": ROBOT})),
    # The API's description: the schema is public (it holds no data), the interactive docs are for staff.
    # Both are read-only and answer POST as GET (django-ninja's views).
    (r"api:openapi-json", Policy(EVERYONE, EVERYONE, csrf=False)),
    (r"api:openapi-view", API_DOCS),
    (r"api:api-root", Policy(by_role("gone"), by_role("gone"), csrf=False)),
    # Robot metrics for Prometheus: staff session or the metrics token, as django-rq's metrics.
    (r"robot:metrics", METRICS),
    # The demo source the demo robot fetches from: public, read-only.
    (r"api:demo-todos", Policy(EVERYONE, NOT_ALLOWED, csrf=False)),
    # Admin site.
    (r"admin:login", Policy(EVERYONE, EVERYONE)),
    # A GET to logout by a non-staff visitor is redirected to the admin index (admin_view), staff get 405.
    (r"admin:logout", Policy(allow(NOBODY, "405", "ok"), EVERYONE, relogin=True)),
    (r"admin:(index|password_change)", admin(STAFF)),
    (r"admin:password_change_done", Policy(ADMIN_STAFF, allow(NOBODY, "405", "login"))),
    (r"admin:jsi18n", Policy(ADMIN_STAFF, allow(NOBODY, "405", "login"))),
    # The autocomplete view refuses a request without a valid field reference: no admin declares one.
    (r"admin:autocomplete", Policy(allow(NOBODY, "deny", "login"), allow(NOBODY, "405", "login"))),
    (r"admin:view_on_site", Policy(allow(NOBODY, "gone", "login"), allow(NOBODY, "gone", "login"))),
    (r"admin:app_list", Policy(allow(OPS, "gone", "login"), allow(OPS, "gone", "login"))),
    (r"route:admin/\(\?P<url>\.\*\)\$", Policy(allow(NOBODY, "gone", "login"), allow(NOBODY, "gone", "login"))),
    # "<model>/<id>/" only redirects to the change page, which checks the permission.
    (r"route:admin/\w+/\w+/<path:object_id>/", admin(STAFF)),
    (rf"admin:({SUPERUSER_MODELS})_(changelist|history|delete|change)", admin(SUPER)),
    (r"admin:auth_(user|group)_add|admin:auth_user_password_change", admin(SUPER)),
    (r"admin:registration_registration_add", admin(NOBODY)),
    (r"admin:robot_robot_(changelist|history|change)", admin(OPS)),
    (r"admin:robot_robot_(add|delete)", admin(SUPER)),
    # The live control panel's fragment (panel.js polls it): the robot view permission.
    (r"admin:robot_robot_panel", admin(OPS)),
    (r"admin:robot_robot_control", Policy(allow(NOBODY, "405", "login"), allow(OPS, outsider="login"))),
    (rf"admin:({READ_ONLY_MODELS})_(changelist|history)", admin(SUPER)),
    # History is append-only: nobody, superusers included, deletes a cycle, record or audit entry.
    (rf"admin:({READ_ONLY_MODELS})_delete", admin(NOBODY)),
    (rf"admin:({READ_ONLY_MODELS})_change", admin(SUPER, NOBODY)),
    (rf"admin:({READ_ONLY_MODELS})_add", admin(NOBODY)),
    # The django-rq dashboard (/django-rq/ and its copy in the admin): staff read, the queue permission acts.
    (rf"{RQ}(home_json|metrics)", METRICS),
    (rf"{RQ}({RQ_READ}|result_detail|workers|worker_details)|admin:django_rq_dashboard_changelist", DASHBOARD_READ),
    (rf"{RQ}({RQ_OPERATIONS})", DASHBOARD_OPERATION),
    (rf"{RQ}stop_job", Policy(allow(NOBODY, "405", "login") | {"staff": "deny"}, allow(OPS, outsider="login"))),
    # No rq-scheduler and no cron scheduler run here: past the guard these answer 404.
    (rf"{RQ}(scheduler_jobs|cron_scheduler_detail|cron_job_detail)", DASHBOARD_ABSENT),
]


def rule_for(key: str) -> Policy | None:
    """Return the policy of the first rule whose regex fully matches ``key``."""
    return next((policy for regex, policy in RULES if re.fullmatch(regex, key)), None)
