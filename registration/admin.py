from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from registration.errors import RegistrationError
from registration.models import Registration
from registration.services import registration_retry

# ModelAdmin is generic only in the type stubs (django-stubs-ext is a dev dependency, not monkeypatched at run time).
if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Registration]
else:
    ModelAdmin = admin.ModelAdmin


@admin.register(Registration)
class RegistrationAdmin(ModelAdmin):
    list_display = ("login", "email", "status", "attempts", "job_id", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("login", "email", "last_name")
    readonly_fields = [field.name for field in Registration._meta.fields]
    actions = ["retry_registrations"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Registrations come through the form or the API, which validate and enqueue them.

    @admin.action(description="Retry selected failed or rejected registrations", permissions=["change"])
    def retry_registrations(self, request: HttpRequest, queryset: QuerySet[Registration]) -> None:
        retried = skipped = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                registration_retry(registration_id=pk)
                retried += 1
            except RegistrationError:
                skipped += 1
        self.message_user(request, f"Retried {retried} registration(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} that were not failed or rejected.", messages.WARNING)
