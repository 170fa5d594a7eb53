"""Operators see the e-mail outbox (to diagnose an SMTP relay), read-only and without the
notifications' content: who acted on whose space is not theirs to browse."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from carnet.notifications.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ("pk", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("status",)
    fields = (
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "last_attempt_at",
        "lease_until",
        "sent_at",
        "last_error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
