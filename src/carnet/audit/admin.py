from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from carnet.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the trail is append-only, even for operators."""

    list_display = ("occurred_at", "chain", "seq", "actor_kind", "actor_label", "action", "outcome")
    list_filter = ("outcome", "actor_kind")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
