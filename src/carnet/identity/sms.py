"""The SMS channel for one-time codes is pluggable: set CARNET_SMS_BACKEND to a class path."""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from carnet.core.errors import CarnetError


class SmsUnavailable(CarnetError):
    code = "sms-unavailable"


class SmsGateway(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class NoSmsGateway:
    """Default: no SMS provider configured; the e-mail channel is used instead."""

    def send(self, phone: str, text: str) -> None:
        raise SmsUnavailable("L'envoi de SMS n'est pas configuré sur ce service.")


def gateway() -> SmsGateway:
    gateway_class = import_string(settings.CARNET_SMS_BACKEND)
    instance: SmsGateway = gateway_class()
    return instance
