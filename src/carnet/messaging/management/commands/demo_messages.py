"""`manage.py demo_messages`: a message from the demo médecin traitant, received through the
MSSanté gateway's processing (fictitious; `manage.py demo` calls it). Idempotent (one
Message-ID); refused in production."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carnet.core import clock
from carnet.messaging import config
from carnet.messaging.gateway import process_inbound

DEMO_INS = "279035121518989"
SENDER = "claire.martin@medecin.mssante.fr"  # the demo GP's MSSanté address (manage.py demo)


class Command(BaseCommand):
    help = "Dépose un message fictif de démonstration dans la messagerie (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo data is refused in production")
        message = EmailMessage()
        message["From"] = f"Dr Claire MARTIN <{SENDER}>"
        message["To"] = f"{DEMO_INS}@patient.{config.patient_domain()}"
        message["Subject"] = "Résultats de votre bilan sanguin"
        message["Message-ID"] = "<demo-bilan-2026@medecin.mssante.fr>"
        message["Date"] = format_datetime(clock.now())
        message.set_content(
            "Bonjour Madame,\n\nVos résultats sont normaux ; le compte rendu est dans vos "
            "documents. Nous en reparlerons à la prochaine consultation.\n\nBien cordialement,\n"
            "Dr Claire Martin\n\n(message fictif de démonstration)\n"
        )
        result = process_inbound(
            message.as_bytes(), mail_from=SENDER, rcpt_tos=[str(message["To"])]
        )
        if not result.accepted:
            raise CommandError(f"demo message refused: {result.reply}")
        self.stdout.write("Message de démonstration prêt.")
