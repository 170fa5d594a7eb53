"""The back office's views of audit rows, and the tracing every back-office view of rows about
patients shares (`TracedReadOnlyAdmin`)."""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from carnet.audit.models import AuditEvent
from carnet.audit.services import record_operator_view


class TracedReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Read-only, and every list or detail an operator opens is recorded: a detail in the chain
    of the row's patient (the holder sees it in "Historique des accès"), a list in the global
    chain with its filters."""

    def _action(self, verb: str) -> str:
        return f"admin:{self.model._meta.app_label}.{self.model._meta.model_name}:{verb}"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        record_operator_view(
            request.user, self._action("list"), details={"query": request.GET.urlencode()[:300]}
        )
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        row: Model | None = self.get_object(request, object_id)
        if row is not None:
            record_operator_view(
                request.user,
                self._action("read"),
                patient_id=getattr(row, "patient_id", None),
                resource_type=type(row).__name__,
                resource_id=str(row.pk),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(TracedReadOnlyAdmin):
    """Read-only: the trail is append-only, even for operators."""

    list_display = ("occurred_at", "chain", "seq", "actor_kind", "actor_label", "action", "outcome")
    list_filter = ("outcome", "actor_kind")
