"""`manage.py demo_documents`: the demo holder's médecin traitant and a few documents she deposited
(fictitious; `manage.py demo` calls it). Idempotent; refused in production."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.html import format_html, format_html_join

from carnet.access import services as access
from carnet.core import clock
from carnet.documents import services as documents
from carnet.documents.services import DocumentSubmission, DuplicateUniqueId, PatientIdentity
from carnet.identity import services as identity
from carnet.identity.ins import OID_NIR_TEST
from carnet.identity.management.commands.demo import demo_professional, demo_user

DEMO_INS = "279035121518989"
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"

# (unique id, LOINC type, title, days ago, paragraphs)
DOCUMENTS: list[tuple[str, str, str, int, list[str]]] = [
    (
        "1.2.250.1.999.2026.1",
        "11488-4",
        "Compte rendu de consultation",
        40,
        [
            "Motif : suivi annuel. Tension artérielle 128/82 mmHg, poids stable.",
            "Conclusion : bon état général ; bilan sanguin prescrit, rappel de vaccination à "
            "prévoir à l'automne.",
        ],
    ),
    (
        "1.2.250.1.999.2026.2",
        "11502-2",
        "Bilan sanguin",
        30,
        [
            "Glycémie à jeun : 0,95 g/L (0,70 – 1,10).",
            "Cholestérol LDL : 1,21 g/L. Hémoglobine : 13,8 g/dL.",
        ],
    ),
    (
        "1.2.250.1.999.2026.3",
        "57833-6",
        "Ordonnance",
        29,
        ["Vitamine D3 100 000 UI : une ampoule tous les trois mois pendant un an."],
    ),
]


def _pdf(title: str, paragraphs: list[str], author: str, day: dt.date) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]  # slow to import: only here

    body = format_html_join("", "<p>{}</p>", ((text,) for text in paragraphs))
    html = format_html(
        "<html lang='fr'><body><h1>{}</h1><p>{} — {}</p>{}"
        "<p><em>Document fictif de démonstration.</em></p></body></html>",
        title,
        author,
        f"{day:%d/%m/%Y}",
        body,
    )
    return bytes(HTML(string=html, base_url=None).write_pdf())


class Command(BaseCommand):
    help = "Crée les documents fictifs de démonstration (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo data is refused in production")
        holder = identity.holder_for_ins(DEMO_INS, OID_NIR_TEST)
        if holder is None:
            raise CommandError("run `manage.py demo` first")
        gp = demo_professional("10")
        holder_actor = identity.actor_for_user(demo_user())
        access.authorise_professional(
            holder_actor,
            patient_id=str(holder.pk),
            professional_id=str(gp.pk),
            medecin_traitant=True,
        )
        actor = identity.actor_for_professional(gp, channel="api")
        author = f"Dr {gp.given_name} {gp.family_name}"
        today = clock.today()
        for unique_id, type_code, title, days, paragraphs in DOCUMENTS:
            day = today - dt.timedelta(days=days)
            created = dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC)
            try:
                documents.deposit_documents(
                    actor,
                    patient=PatientIdentity(matricule=holder.ins_matricule, oid=holder.ins_oid),
                    documents=[
                        (
                            DocumentSubmission(
                                unique_id=unique_id,
                                type_code=type_code,
                                title=title,
                                created_at_source=created,
                                mime_type="application/pdf",
                                format_code=PDF_FORMAT,
                                facility_type="SA07",
                                practice_setting="AMBULATOIRE",
                                author={
                                    "prefix": "Dr",
                                    "given": gp.given_name,
                                    "family": gp.family_name,
                                    "rpps": gp.rpps,
                                    "specialty_display": "Médecine générale",
                                },
                            ),
                            _pdf(title, paragraphs, author, day),
                        )
                    ],
                )
            except DuplicateUniqueId:
                # Deposited by an earlier run: the PDFs are dated from today, so their bytes differ.
                continue
        self.stdout.write("Documents de démonstration prêts.")
