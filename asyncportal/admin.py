"""django-rq's admin entry, re-registered so its copy of the dashboard passes the same guard as /django-rq/."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import URLPattern
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

from asyncportal import dashboard


class GuardedQueueAdmin(QueueAdmin):
    def get_urls(self) -> list[URLPattern]:
        patterns: list[Any] = super().get_urls()  # type: ignore[no-untyped-call]
        # Dashboard has no table: of ModelAdmin's own views only the changelist (the admin index's link) is kept.
        kept = [p for p in patterns if p.name and not p.name.startswith("django_rq_dashboard_")]
        kept += [p for p in patterns if p.name == "django_rq_dashboard_changelist"]
        return dashboard.guard(kept, name_prefix="django_rq_")


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, GuardedQueueAdmin)
