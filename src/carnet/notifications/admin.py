"""Operators see the e-mail outbox (to diagnose an SMTP relay), read-only and without the
notifications' content: who acted on whose space is not theirs to browse."""

from django.contrib import admin

from carnet.audit.admin import TracedReadOnlyAdmin
from carnet.notifications.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(TracedReadOnlyAdmin):
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
