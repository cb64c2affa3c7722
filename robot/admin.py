"""Robot admin: actions and the control panel's buttons call the services; history (cycles, records, audit) is
read-only and cannot be deleted here; a robot is deleted only through ``robot_delete``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminURLFieldWidget
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from robot import outbound, panel, services
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import Actor

EDITABLE = (
    *("msg", "source_url", "source_secret", "batch_size", "chunk_size", "interval", "target_url", "target_secret"),
    "max_failed_cycles",
)
Operation = Callable[[str, Actor], object]
OPERATIONS: dict[str, tuple[Operation, str]] = {
    "start": (lambda name, actor: services.robot_start(name=name, actor=actor), "started"),
    "stop": (lambda name, actor: services.robot_stop(name=name, actor=actor), "stopped"),
    "stop-now": (lambda name, actor: services.robot_stop(name=name, now=True, actor=actor), "stopped now"),
    "run-once": (lambda name, actor: services.robot_run_once(name=name, actor=actor), "running one cycle"),
    "retry-failed": (
        lambda name, actor: services.robot_retry_latest_failed(name=name, actor=actor),
        "retrying the failed records of its latest cycle that had any",
    ),
}


if TYPE_CHECKING:
    BaseAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is not subscriptable at run time (no django-stubs-ext monkeypatch in settings).
    BaseAdmin = admin.ModelAdmin

BUTTONS = {
    "start": "Start",
    "stop": "Stop",
    "stop-now": "Stop now",
    "run-once": "Run one cycle now",
    "retry-failed": "Retry failed records",
}
# The list's "last cycle" columns: one subquery per column, so the list costs one query whatever its length.
LAST_CYCLE = ("status", "started_at", "finished_at", "done", "failed", "fetched")


def admin_actor(request: HttpRequest) -> Actor:
    return Actor(source=RobotAudit.Source.ADMIN, user=request.user, remote_addr=request.META.get("REMOTE_ADDR"))


class RedactedURLWidget(AdminURLFieldWidget):
    """The admin's URL input and "Currently" link, without the user:password an URL may carry."""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        return super().get_context(name, outbound.redact(value) if isinstance(value, str) else value, attrs)


class ReadOnlyAdmin(BaseAdmin):
    """No add, change or delete for anyone, superusers included (which also removes the bulk delete action)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Robot)
class RobotAdmin(BaseAdmin):
    list_display = ("name", "state_badge", "next_run", "last_cycle", "last_duration", "last_rate", "totals")
    list_filter = ("state",)
    search_fields = ("name", "msg", "source_url")
    actions = ["start_robots", "stop_robots", "stop_robots_now", "run_robots_once"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https", "widget": RedactedURLWidget}}

    class Media:
        css = {"all": ("robot/panel.css",)}
        js = ("robot/panel.js",)

    # What changes while the robot works is on the live panel above the form, not in these fields.
    readonly_fields = ("chain_token", "cursor", "secrets_status")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Robot]:
        last = RobotCycle.objects.filter(robot=OuterRef("pk"), finished_at__isnull=False).order_by("-number")
        annotations = {f"last_{name}": Subquery(last.values(name)[:1]) for name in LAST_CYCLE}
        robots: QuerySet[Robot] = super().get_queryset(request).annotate(**annotations)
        return robots

    def get_readonly_fields(self, request: HttpRequest, obj: Robot | None = None) -> tuple[str, ...]:
        return ("name", *self.readonly_fields) if obj else ()

    def get_fields(self, request: HttpRequest, obj: Robot | None = None) -> tuple[str, ...]:
        return ("name", *EDITABLE, *(self.readonly_fields if obj else ()))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would bypass robot_delete (its refusal and its audit entry): one robot at a time.
        actions: dict[str, Any] = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Refuse before Django's confirmation page (which would list every protected record) with the reason."""
        robot = self.get_object(request, object_id)
        if robot is not None and self.has_delete_permission(request, robot):
            refusal = services.robot_delete_refusal(robot)
            if refusal is not None:
                self.message_user(request, refusal.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:robot_robot_change", args=[robot.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Robot) -> None:
        try:
            services.robot_delete(name=obj.name, actor=admin_actor(request))
        except RobotError as exc:  # started or ran a cycle since the confirmation page
            raise PermissionDenied(exc.message) from exc

    def save_model(self, request: HttpRequest, obj: Robot, form: ModelForm[Robot], change: bool) -> None:
        # Through the service: only changed settings are written, never the state, token or totals.
        values = {name: form.cleaned_data[name] for name in EDITABLE if name in form.changed_data or not change}
        robot, _ = services.robot_save(name=obj.name, values=values, actor=admin_actor(request))
        obj.pk = robot.pk

    @admin.action(description="Start selected robots", permissions=["change"])
    def start_robots(self, request: HttpRequest, queryset: QuerySet[Robot]) -> None:
        self._each(request, queryset, "start")

    @admin.action(description="Stop selected robots (let the current cycle finish)", permissions=["change"])
    def stop_robots(self, request: HttpRequest, queryset: QuerySet[Robot]) -> None:
        self._each(request, queryset, "stop")

    @admin.action(description="Stop selected robots now (cancel queued records)", permissions=["change"])
    def stop_robots_now(self, request: HttpRequest, queryset: QuerySet[Robot]) -> None:
        self._each(request, queryset, "stop-now")

    @admin.action(description="Run one cycle of selected robots now", permissions=["change"])
    def run_robots_once(self, request: HttpRequest, queryset: QuerySet[Robot]) -> None:
        self._each(request, queryset, "run-once")

    def _each(self, request: HttpRequest, robots: QuerySet[Robot], operation: str) -> None:
        call, done = OPERATIONS[operation]
        for robot in robots:
            try:
                call(robot.name, admin_actor(request))
            except RobotError as exc:
                self.message_user(request, f"{robot.name}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{robot.name}: {done}.", messages.SUCCESS)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        robot = self.get_object(request, object_id)
        context = {**(extra_context or {}), **(self._panel_context(request, robot) if robot else {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        control = path(
            "<path:object_id>/control/<slug:operation>/",
            self.admin_site.admin_view(self.control_view),
            name="robot_robot_control",
        )
        fragment = path(
            "<path:object_id>/panel/", self.admin_site.admin_view(self.panel_view), name="robot_robot_panel"
        )
        return [control, fragment, *super().get_urls()]

    def control_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """The control panel's buttons: POST only, staff with change permission."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        robot = self.get_object(request, object_id)
        if robot is None or operation not in OPERATIONS:
            raise Http404
        if not self.has_change_permission(request, robot):
            raise PermissionDenied
        self._each(request, Robot.objects.filter(pk=robot.pk), operation)
        return HttpResponseRedirect(reverse("admin:robot_robot_change", args=[robot.pk]))

    @admin.display(description="Secrets")
    def secrets_status(self, robot: Robot) -> str:
        """Name each secret and say whether this process sees it set; its value is never shown."""
        named = (("source", robot.source_secret), ("target", robot.target_secret))
        shown = [
            f"{role}: {name} ({'set' if outbound.secret_is_set(name) else 'NOT SET'})" for role, name in named if name
        ]
        return "; ".join(shown) or "none"

    def panel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The control panel alone, server-rendered, for panel.js to swap in."""
        robot = self.get_object(request, object_id)
        if robot is None:
            raise Http404
        if not self.has_view_permission(request, robot):
            raise PermissionDenied
        # admin_view marks it never_cache: every poll reads the database afresh.
        return TemplateResponse(request, "admin/robot/robot/panel.html", self._panel_context(request, robot))

    def _panel_context(self, request: HttpRequest, robot: Robot) -> dict[str, Any]:
        known = tuple(OPERATIONS) if self.has_change_permission(request, robot) else ()
        context = panel.panel(robot, known)
        context["buttons"] = [(name, BUTTONS[name]) for name in context["operations"]]
        return context

    @admin.display(description="state", ordering="state")
    def state_badge(self, robot: Robot) -> str:
        phase = panel.robot_phase(robot)
        return format_html('<span class="robot-badge robot-badge-{}">{}</span>', phase, phase)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, robot: Robot) -> str:
        if not robot.is_running or robot.next_run_at is None or not robot.chain_token:
            return "-"
        seconds = max((robot.next_run_at - timezone.now()).total_seconds(), 0.0)
        return "due now" if seconds < 1 else f"in {panel.human_seconds(seconds)}"

    @admin.display(description="last cycle")
    def last_cycle(self, robot: Robot) -> str:
        status = getattr(robot, "last_status", None)
        if status is None:
            return "-"
        done, failed, fetched = robot.last_done, robot.last_failed, robot.last_fetched  # type: ignore[attr-defined]
        return f"{status}: {done}/{fetched} done" + (f", {failed} failed" if failed else "")

    @admin.display(description="duration")
    def last_duration(self, robot: Robot) -> str:
        return panel.human_seconds(self._last_seconds(robot))

    @admin.display(description="records/s")
    def last_rate(self, robot: Robot) -> str:
        seconds = self._last_seconds(robot)
        if not seconds:
            return "-"
        return f"{(robot.last_done + robot.last_failed) / seconds:.1f}"  # type: ignore[attr-defined]

    @admin.display(description="totals")
    def totals(self, robot: Robot) -> str:
        failed = f", {robot.total_failed} failed" if robot.total_failed else ""
        return f"{robot.total_done}/{robot.total_fetched} done{failed}"

    @staticmethod
    def _last_seconds(robot: Robot) -> float | None:
        started, finished = getattr(robot, "last_started_at", None), getattr(robot, "last_finished_at", None)
        return (finished - started).total_seconds() if started and finished else None


@admin.register(RobotCycle)
class RobotCycleAdmin(ReadOnlyAdmin):
    list_display = (
        *("robot", "number", "status", "error_code", "started_at", "finished_at", "fetched", "done", "failed"),
        "retry_of",
    )
    list_filter = ("status", "robot")
    ordering = ("-started_at", "-number")
    actions = ["retry_failed_records"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Cycles are read-only history; retrying changes the robot, so it takes the robot's change permission.
        return request.user.has_perm("robot.change_robot")

    @admin.action(description="Retry the failed records of selected cycles", permissions=["retry"])
    def retry_failed_records(self, request: HttpRequest, queryset: QuerySet[RobotCycle]) -> None:
        for cycle in queryset.select_related("robot").order_by("robot__name", "number"):
            try:
                retried = services.cycle_retry_failed(
                    name=cycle.robot.name, number=cycle.number, actor=admin_actor(request)
                )
            except RobotError as exc:
                self.message_user(request, f"{cycle}: {exc.message}", messages.WARNING)
            else:
                done = f"{retried.requeued} failed records re-queued in cycle {retried.cycle}" if retried.cycle else ""
                self.message_user(request, f"{cycle}: {done or 'no failed records'}.", messages.SUCCESS)


@admin.register(ProcessedRecord)
class ProcessedRecordAdmin(ReadOnlyAdmin):
    list_display = ("robot", "source_id", "status", "attempts", "dispatch", "cycle", "finished_at")
    list_filter = ("status", "robot")
    search_fields = ("source_id",)
    list_select_related = ("robot", "cycle")


@admin.register(RobotAudit)
class RobotAuditAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "robot_name", "action", "actor_label", "source", "remote_addr", "detail")
    list_filter = ("action", "source", "robot_name")
    search_fields = ("robot_name", "actor_label")
