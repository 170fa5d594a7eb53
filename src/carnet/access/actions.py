"""Every action the access policy knows, named `<domain>:<resource>:<verb>`, alphabetised."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    ACCESS_AUTHORISATION_CREATE = "access:authorisation:create"
    ACCESS_AUTHORISATION_DELETE = "access:authorisation:delete"
    ACCESS_AUTHORISATION_SEARCH = "access:authorisation:search"
    ACCESS_AUTHORISATION_UPDATE = "access:authorisation:update"
    ACCESS_BLOCK_CREATE = "access:block:create"
    ACCESS_BLOCK_DELETE = "access:block:delete"
    ACCESS_CONSENT_CREATE = "access:consent:create"
    ACCESS_SETTINGS_READ = "access:settings:read"
    ACCESS_SETTINGS_UPDATE = "access:settings:update"
    AUDIT_TRACE_READ = "audit:trace:read"
    DOCUMENTS_DOCUMENT_CREATE = "documents:document:create"
    DOCUMENTS_DOCUMENT_DELETE = "documents:document:delete"
    DOCUMENTS_DOCUMENT_READ = "documents:document:read"
    DOCUMENTS_DOCUMENT_SEARCH = "documents:document:search"
    DOCUMENTS_DOCUMENT_UPDATE = "documents:document:update"
    IDENTITY_PATIENT_READ = "identity:patient:read"
    IDENTITY_PATIENT_SEARCH = "identity:patient:search"
    IDENTITY_PATIENT_UPDATE = "identity:patient:update"
    MESSAGING_ATTACHMENT_READ = "messaging:attachment:read"
    MESSAGING_ATTACHMENT_UPDATE = "messaging:attachment:update"
    MESSAGING_CONVERSATION_DELETE = "messaging:conversation:delete"
    MESSAGING_CONVERSATION_READ = "messaging:conversation:read"
    MESSAGING_CONVERSATION_SEARCH = "messaging:conversation:search"
    MESSAGING_MESSAGE_CREATE = "messaging:message:create"
    MESSAGING_MESSAGE_UPDATE = "messaging:message:update"
    NOTIFICATIONS_NOTIFICATION_READ = "notifications:notification:read"
    NOTIFICATIONS_NOTIFICATION_UPDATE = "notifications:notification:update"
    NOTIFICATIONS_PREFERENCE_READ = "notifications:preference:read"
    NOTIFICATIONS_PREFERENCE_UPDATE = "notifications:preference:update"
    PROFILE_CARE_HISTORY_CREATE = "profile:care-history:create"
    PROFILE_ITEM_CREATE = "profile:item:create"
    PROFILE_ITEM_DELETE = "profile:item:delete"
    PROFILE_ITEM_MANAGE = "profile:item:manage"
    PROFILE_ITEM_READ = "profile:item:read"
    PROFILE_ITEM_SEARCH = "profile:item:search"
    PROFILE_ITEM_UPDATE = "profile:item:update"
    PROFILE_MEASURE_CREATE = "profile:measure:create"
    PROFILE_MEASURE_DELETE = "profile:measure:delete"
    PROFILE_MEASURE_READ = "profile:measure:read"
    PROFILE_MEASURE_SEARCH = "profile:measure:search"
    PROFILE_MEASURE_UPDATE = "profile:measure:update"
    PROFILE_SUMMARY_READ = "profile:summary:read"
    PROFILE_SYNTHESIS_PUBLISH = "profile:synthesis:publish"
    PROFILE_SYNTHESIS_READ = "profile:synthesis:read"

    @property
    def is_write(self) -> bool:
        return self.value.rsplit(":", 1)[1] in WRITE_VERBS


WRITE_VERBS = frozenset({"create", "update", "delete", "manage", "publish"})
