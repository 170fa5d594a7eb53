"""Every action the access policy knows, named `<domain>:<resource>:<verb>`, alphabetised."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    AUDIT_TRACE_READ = "audit:trace:read"
    DOCUMENTS_DOCUMENT_CREATE = "documents:document:create"
    DOCUMENTS_DOCUMENT_DELETE = "documents:document:delete"
    DOCUMENTS_DOCUMENT_READ = "documents:document:read"
    DOCUMENTS_DOCUMENT_SEARCH = "documents:document:search"
    DOCUMENTS_DOCUMENT_UPDATE = "documents:document:update"
    IDENTITY_PATIENT_READ = "identity:patient:read"
    IDENTITY_PATIENT_SEARCH = "identity:patient:search"
    IDENTITY_PATIENT_UPDATE = "identity:patient:update"

    @property
    def is_write(self) -> bool:
        return self.value.rsplit(":", 1)[1] in WRITE_VERBS


WRITE_VERBS = frozenset({"create", "update", "delete", "manage", "publish"})
