"""Templated e-mails: one folder per event under `templates/notifications/email/<event>/`.

E-mails never carry health content: they say that something happened and link to the portal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string


def send_templated(
    event: str,
    to: str,
    context: Mapping[str, Any],
    *,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    connection: BaseEmailBackend | None = None,
) -> None:
    """Render `<event>/subject.txt` and `body.txt` and send them through the configured SMTP.

    `message_id` replaces the generated Message-ID: the notification outbox passes one derived
    from its idempotency key, so that a resend of the same notice is recognisable as such.
    Raises what the SMTP backend raises (smtplib.SMTPException, OSError).
    """
    ctx = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"notifications/email/{event}/subject.txt", ctx).split())
    body = render_to_string(f"notifications/email/{event}/body.txt", ctx)
    extra = dict(headers or {})
    if message_id is not None:
        extra["Message-ID"] = message_id
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=[to], headers=extra, connection=connection
    )
    message.send(fail_silently=False)
