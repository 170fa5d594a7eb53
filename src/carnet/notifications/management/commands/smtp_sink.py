"""`manage.py smtp_sink`: a local SMTP server for demo mode that prints each message received,
so the demo holder can read the one-time login code in the terminal."""

from __future__ import annotations

import email
import email.policy
import time
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class _Printer:
    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        self.command.stdout.write(
            f"\n--- e-mail pour {', '.join(envelope.rcpt_tos)} : {message['subject']}\n{text}---"
        )
        self.command.stdout.flush()
        return "250 Message accepted for delivery"


class Command(BaseCommand):
    help = "Serveur SMTP local de démonstration : affiche les e-mails reçus."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.EMAIL_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("the SMTP sink is for demo mode only")
        controller = Controller(_Printer(self), hostname="127.0.0.1", port=options["port"])
        controller.start()
        self.stdout.write(f"SMTP de démonstration sur 127.0.0.1:{options['port']}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
