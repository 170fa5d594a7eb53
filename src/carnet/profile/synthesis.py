"""The profile synthesis: a French PDF of every section and the latest measures, rendered by
WeasyPrint from a Django template; "Partager" stores it among the holder's documents as a
"Synthèse de mon profil médical" (type DOCPAT08) so that authorised professionals can read it.

The synthesis is meant to be shown to professionals, so it leaves out the items the holder hid
from them, and says how many were left out [decision]. Rendering fetches nothing: the template
carries its style and its charts inline, and the URL fetcher refuses every URL, so no text a
holder or a professional typed can make the renderer reach the network or the file system.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy import Target
from carnet.core import clock
from carnet.profile import charts, services, summary
from carnet.profile import items as item_rules
from carnet.profile import measures as measure_rules
from carnet.profile.models import Measure, ProfileItem
from carnet.profile.sections import HISTORIQUE, MESURES, SECTIONS

DOCUMENT_TYPE = "DOCPAT08"  # "Profil médical Mon espace santé" (TRE_A05), category "synthèse"
CARE_HISTORY_LIMIT = 30
# WeasyPrint logs each rendering step at INFO: noise in the server's log, and page counts of
# health documents have no business there.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SynthesisDocument:
    content: bytes
    filename: str
    title: str


@dataclass(frozen=True)
class _Line:
    title: str
    details: list[tuple[str, str]]
    author: str
    text: str = ""


def _offline_fetcher() -> Any:
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    class Offline(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError("the profile synthesis fetches no URL")

    return Offline()


def _lines(actor: Actor, rows: list[ProfileItem]) -> list[_Line]:
    lines = []
    for item in rows:
        shown = services.view_item(actor, item)
        text = ""
        if item.kind == "directives-anticipees":
            text = item_rules.form_data(shown.kind, item.resource).get("content", "")
        lines.append(_Line(shown.title, shown.details, shown.author, text))
    return lines


def _weight_chart(patient_id: str) -> str:
    rows = list(
        Measure.objects.filter(patient_id=uuid.UUID(patient_id), key=measure_rules.WEIGHT).order_by(
            "effective_at"
        )
    )
    if len(rows) < 2:
        return ""
    values = [services.measure_value(row) for row in rows]
    return charts.render_chart(
        charts.points_from_measures(values),
        title=_("Poids au fil du temps"),
        unit="kg",
        chart_id="synthese-poids",
    )


def _context(actor: Actor, pid: str, holder: Any) -> dict[str, Any]:
    rows = list(ProfileItem.objects.filter(patient_id=uuid.UUID(pid)))
    shown = [item for item in rows if not item.hidden]
    overview = summary.build_overview(actor, pid, holder, shown)
    by_section: dict[str, list[ProfileItem]] = {section.slug: [] for section in SECTIONS}
    for item in sorted(shown, key=services.item_order):
        by_section[item.section].append(item)
    sections = []
    for status in overview.sections:
        slug = status.section.slug
        items = by_section[slug]
        if slug == HISTORIQUE:
            items = items[:CARE_HISTORY_LIMIT]
        if slug != MESURES or items:
            sections.append({"status": status, "lines": _lines(actor, items)})
    return {
        "holder": holder,
        "overview": overview,
        "sections": sections,
        "measures": [m for m in overview.latest if m.value is not None],
        "weight_chart": _weight_chart(pid),
        "hidden_count": len(rows) - len(shown),
        "printed_at": charts.format_date_fr(clock.now()),
        "care_history_limit": CARE_HISTORY_LIMIT,
    }


def render_synthesis(actor: Actor, *, patient_id: str) -> SynthesisDocument:
    """The synthesis PDF of a space the actor may read. Raises NotFound otherwise."""
    pid, holder = summary.authorized_space(
        actor, Action.PROFILE_SYNTHESIS_READ, patient_id, "Profile"
    )
    from weasyprint import HTML  # type: ignore[import-untyped]  # slow to import: only here

    html = render_to_string("profile/synthesis.html", _context(actor, pid, holder))
    content = HTML(string=html, base_url=None, url_fetcher=_offline_fetcher()).write_pdf()
    today = clock.today()
    title = _("Synthèse de mon profil médical du %(date)s") % {"date": today.strftime("%d/%m/%Y")}
    filename = f"synthese-profil-medical-{today.isoformat()}.pdf"
    return SynthesisDocument(content=bytes(content), filename=filename, title=title)


def share_synthesis(actor: Actor, *, patient_id: str) -> Any:
    """Store today's synthesis among the holder's documents (type DOCPAT08), where authorised
    professionals can read it. Returns the documents service's deposit result.

    Raises NotFound (no such space for this actor) and the documents service's errors.
    """
    from carnet.documents import services as documents

    pid = services.existing_patient_id(patient_id)
    gate.authorize(actor, Action.PROFILE_SYNTHESIS_PUBLISH, Target("Profile", patient_id=pid))
    document = render_synthesis(actor, patient_id=str(pid))
    return documents.deposit_holder_document(
        actor,
        patient_id=str(pid),
        content=document.content,
        mime_type="application/pdf",
        title=document.title,
        type_code=DOCUMENT_TYPE,
    )
