"""`manage.py demo_profile`: a filled-in medical profile and a few measures for the demo holder
(fictitious; `manage.py demo` calls it). Idempotent; refused in production."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carnet.core import clock
from carnet.identity import services as identity
from carnet.identity.ins import OID_NIR_TEST
from carnet.identity.management.commands.demo import demo_user
from carnet.profile import services as profile

DEMO_INS = "279035121518989"

ITEMS: list[tuple[str, dict[str, str]]] = [
    ("maladie", {"name": "Hypothyroïdie", "status": "active", "onset": "2018"}),
    (
        "traitement",
        {"name": "Lévothyroxine 75 µg", "dosage": "1 comprimé le matin", "status": "active"},
    ),
    ("allergie", {"substance": "Pénicilline", "type": "allergy", "criticality": "high"}),
    ("hospitalisation", {"category": "387713003", "name": "Appendicectomie", "date": "12/06/1998"}),
    (
        "antecedent-familial",
        {"relationship": "MTH", "condition": "Diabète de type 2", "onset_age": "60"},
    ),
    ("vaccination", {"vaccine": "J07BB", "date": "15/10/2025", "dose": "rappel annuel"}),
    ("tabac", {"status": "8517006", "details": "arrêt en 2020"}),
    ("groupe-sanguin", {"group": "O+"}),
    ("sommeil", {"hours": "7"}),
    (
        "professionnel",
        {"name": "Dr Claire Martin", "specialty": "médecin généraliste", "medecin_traitant": "on"},
    ),
    (
        "contact-urgence",
        {"name": "Soizic Leguellec", "relation": "fille", "phone": "06 83 05 48 98"},
    ),
]

# (measure, value, days ago)
MEASURES: list[tuple[str, Any, int]] = [
    ("body-height", "168", 200),
    ("body-weight", "72,4", 120),
    ("body-weight", "71,8", 60),
    ("body-weight", "71,1", 5),
    ("blood-pressure", {"systolic": "128", "diastolic": "82"}, 40),
    ("blood-pressure", {"systolic": "124", "diastolic": "79"}, 5),
]


class Command(BaseCommand):
    help = "Crée le profil médical fictif de démonstration (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo data is refused in production")
        holder = identity.holder_for_ins(DEMO_INS, OID_NIR_TEST)
        if holder is None:
            raise CommandError("run `manage.py demo` first")
        actor = identity.actor_for_user(demo_user())
        pid = str(holder.pk)
        if profile.list_items(actor, patient_id=pid):
            self.stdout.write("Profil de démonstration déjà présent.")
            return
        for kind, data in ITEMS:
            profile.create_item(actor, patient_id=pid, kind=kind, data=data)
        today = clock.today()
        for key, value, days in MEASURES:
            profile.add_measure(
                actor, patient_id=pid, key=key, value=value, at=today - dt.timedelta(days=days)
            )
        self.stdout.write("Profil de démonstration prêt.")
