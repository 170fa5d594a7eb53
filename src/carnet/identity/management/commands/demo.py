"""`manage.py demo`: fictitious demo data, created through the services (idempotent).

An adult holder (the ANS test identity used by the example CDA documents), her minor child,
professionals of several professions, an organisation, and a registered professional software
whose private key is written to var/demo/ so a newcomer can call the API (`manage.py demo_token`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from jwt.algorithms import RSAAlgorithm

from carnet.identity import services
from carnet.identity.identifiers import luhn_check_digit
from carnet.identity.ins import OID_NIR_TEST, nir_key
from carnet.identity.models import Holder, Organisation, Professional, RegisteredIssuer, User

DEMO_PASSWORD = "Carnet-demo-2026!"  # noqa: S105 (fictitious demo account, refused in production)
DEMO_ISSUER = "urn:carnet:demo:logiciel-cabinet"
HOLDER_EMAIL = "dominique.pat-trois@demo.carnet.localhost"


def _rpps(body: str) -> str:
    return body + str(luhn_check_digit(body))


def _finess(body: str) -> str:
    return body + str(luhn_check_digit(body))


def _ins(body: str) -> str:
    return body + f"{nir_key(body):02d}"


PROFESSIONALS: list[dict[str, str]] = [
    {
        "rpps": _rpps("1000000001"),
        "family_name": "MARTIN",
        "given_name": "Claire",
        "profession_code": "10",
        "specialty_code": "G15_10/SM54",
        "mssante_address": "claire.martin@medecin.mssante.fr",
    },
    {
        "rpps": _rpps("1000000002"),
        "family_name": "BERNARD",
        "given_name": "Hugo",
        "profession_code": "21",
        "specialty_code": "G15_21/A",
        "pharmacist_section": "A",
    },
    {
        "rpps": _rpps("1000000003"),
        "family_name": "PETIT",
        "given_name": "Inès",
        "profession_code": "60",
        "specialty_code": "G15_60",
    },
    {
        "rpps": _rpps("1000000004"),
        "family_name": "ROBERT",
        "given_name": "Louis",
        "profession_code": "70",
        "specialty_code": "G15_70",
    },
    {
        "rpps": _rpps("1000000005"),
        "family_name": "DURAND",
        "given_name": "Sofia",
        "profession_code": "10",
        "specialty_code": "G15_10/SM44",
    },
]


class Command(BaseCommand):
    help = "Crée les données fictives de démonstration (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo data is refused in production")
        with transaction.atomic():
            created = self._create()
        key_path = self._write_software_key()
        # What the demo holder finds in her space: each domain seeds its own part.
        for command in ("demo_documents", "demo_profile", "demo_messages"):
            try:
                call_command(command, stdout=self.stdout)
            except CommandError:
                raise
            except Exception as exc:
                # One clear line for the person typing `make run`, not a traceback.
                raise CommandError(f"{command} : {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                "Données de démonstration prêtes."
                if created
                else "Données de démonstration déjà présentes."
            )
        )
        self.stdout.write(
            "\nConnexions de démonstration (http://127.0.0.1:8000) :\n"
            f"  Titulaire : {HOLDER_EMAIL} / {DEMO_PASSWORD}\n"
            "    (le code à 6 chiffres s'affiche dans le terminal du serveur SMTP de démo)\n"
            f"  Parent de Léa (mineure) : même compte, menu « Espace affiché »\n"
            "  Professionnels : http://127.0.0.1:8000/pro/connexion/ (connexion de démonstration)\n"
            f"  API FHIR : clé privée du logiciel de démo {key_path}\n"
            "    jeton : .venv/bin/python manage.py demo_token\n"
        )

    def _create(self) -> bool:
        if Holder.objects.filter(ins_matricule="279035121518989").exists():
            return False
        organisation = services.register_organisation(
            finess=_finess("75000001"), name="Maison de santé des Demoiselles", facility_type="SA52"
        )
        for row in PROFESSIONALS:
            services.register_professional(organisation=organisation, **row)
        holder = services.register_holder(
            matricule="279035121518989",
            oid=OID_NIR_TEST,
            traits=services.BirthTraits(
                birth_family_name="PAT-TROIS",
                birth_given_names="DOMINIQUE MARIE-LOUISE",
                birth_date=dt.date(1979, 3, 28),
                sex="F",
                birth_place_code="51215",
            ),
            used_given_name="Dominique",
            contact_email=HOLDER_EMAIL,
        )
        user = services.activate_space(holder, email=HOLDER_EMAIL, password=DEMO_PASSWORD)
        minor = services.register_holder(
            matricule=_ins("2160575056123"),
            oid=OID_NIR_TEST,
            traits=services.BirthTraits(
                birth_family_name="PAT-TROIS",
                birth_given_names="LÉA CAMILLE",
                birth_date=dt.date(2016, 5, 12),
                sex="F",
                birth_place_code="75056",
            ),
            used_given_name="Léa",
        )
        services.add_legal_representative(minor=minor, representative=user)
        return True

    def _write_software_key(self) -> Path:
        directory = settings.VAR_DIR / "demo"
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / "logiciel-demo-private.pem"
        if key_path.exists():
            private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        else:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_path.write_bytes(
                private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_path.chmod(0o600)
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))  # type: ignore[arg-type]
        jwk.update({"kid": "demo-1", "use": "sig", "alg": "RS256"})
        issuer, _created = RegisteredIssuer.objects.update_or_create(
            issuer=DEMO_ISSUER,
            defaults={"name": "Logiciel de cabinet (démonstration)", "jwks": {"keys": [jwk]}},
        )
        # The demo software vouches for every demo organisation (the demo tokens name them).
        issuer.organisations.set(Organisation.objects.all())
        return key_path


def demo_user() -> User:
    return User.objects.get(email=HOLDER_EMAIL)


def demo_professional(profession_code: str = "10") -> Professional:
    return Professional.objects.filter(profession_code=profession_code).order_by("rpps").first()  # type: ignore[return-value]
