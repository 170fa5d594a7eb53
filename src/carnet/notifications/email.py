"""Templated e-mails: one folder per event under `templates/notifications/email/<event>/`.

E-mails never carry health content: they say that something happened and link to the portal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated(event: str, to: str, context: Mapping[str, Any]) -> None:
    """Render `<event>/subject.txt` and `body.txt` and send them through the configured SMTP."""
    ctx = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"notifications/email/{event}/subject.txt", ctx).strip()
    body = render_to_string(f"notifications/email/{event}/body.txt", ctx)
    message = EmailMultiAlternatives(subject=subject, body=body, to=[to])
    message.send(fail_silently=False)
