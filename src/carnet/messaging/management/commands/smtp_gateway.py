"""`manage.py smtp_gateway`: the inbound MSSanté SMTP gateway, a process of its own.

It accepts mail for `<INS>@patient.<CARNET_MSS_PATIENT_DOMAIN>` from the domains of
`CARNET_MSS_TRUSTED_DOMAINS`, offers STARTTLS when `CARNET_MSS_GATEWAY_TLS_CERT` and `_KEY` are
set, and stores each message in the holder's mailbox (see `carnet.messaging.gateway`).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.messaging import config
from carnet.messaging.gateway import make_controller


class Command(BaseCommand):
    help = "Passerelle SMTP entrante MSSanté (messagerie sécurisée des titulaires)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="listen address (CARNET_MSS_GATEWAY_HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (CARNET_MSS_GATEWAY_PORT)")
        parser.add_argument(
            "--tls-cert", default=None, help="PEM certificate (CARNET_MSS_GATEWAY_TLS_CERT)"
        )
        parser.add_argument("--tls-key", default=None, help="PEM key (CARNET_MSS_GATEWAY_TLS_KEY)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbosity"] < 2:
            # aiosmtpd logs every envelope address at INFO: patient addresses carry the INS.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
        try:
            controller = make_controller(
                host=options["host"],
                port=options["port"],
                tls_cert=options["tls_cert"],
                tls_key=options["tls_key"],
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        stopped = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        controller.start()
        tls = "STARTTLS proposé" if controller.SMTP_kwargs.get("tls_context") else "sans TLS"
        self.stdout.write(
            f"Passerelle MSSanté sur {controller.hostname}:{controller.port} ({tls}) ; "
            f"domaine patient : patient.{config.patient_domain()} ; "
            f"domaines de confiance : {', '.join(sorted(config.trusted_domains()))}"
        )
        self.stdout.flush()
        try:
            stopped.wait()
        finally:
            controller.stop()
