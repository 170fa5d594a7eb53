"""`manage.py demo_token`: a short-lived API token signed with the demo software's key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carnet.identity.identifiers import idnps_from_rpps
from carnet.identity.management.commands.demo import DEMO_ISSUER
from carnet.identity.models import Professional


class Command(BaseCommand):
    help = "Affiche un jeton d'API de démonstration pour un professionnel (RPPS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rpps", help="RPPS du professionnel (défaut : le premier médecin)")
        parser.add_argument(
            "--purpose", default="normal", choices=["normal", "bris_de_glace", "centre_15"]
        )
        parser.add_argument("--reason", default="", help="motif, obligatoire en bris de glace")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo tokens are refused in production")
        key_path = settings.VAR_DIR / "demo" / "logiciel-demo-private.pem"
        if not key_path.exists():
            raise CommandError("run `manage.py demo` first")
        rows = Professional.objects.select_related("organisation")
        professional = (
            rows.filter(rpps=options["rpps"]).first()
            if options["rpps"]
            else rows.filter(profession_code="10").order_by("rpps").first()
        )
        if professional is None:
            raise CommandError("unknown professional")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEMO_ISSUER,
            "sub": idnps_from_rpps(professional.rpps),
            "aud": settings.CARNET_JWT_AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            "rpps": professional.rpps,
            "profession": professional.profession_code,
            "given_name": professional.given_name,
            "family_name": professional.family_name,
            "purpose_of_use": options["purpose"],
        }
        if professional.specialty_code:
            claims["specialty"] = professional.specialty_code
        if professional.pharmacist_section:
            claims["pharmacist_section"] = professional.pharmacist_section
        if professional.organisation:
            claims["organisation"] = professional.organisation.idnst
            claims["organisation_name"] = professional.organisation.name
        if options["reason"]:
            claims["emergency_reason"] = options["reason"]
        token = jwt.encode(
            claims, key_path.read_bytes(), algorithm="RS256", headers={"kid": "demo-1"}
        )
        self.stdout.write(token)
