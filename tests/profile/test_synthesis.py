"""The profile synthesis PDF: rendered by WeasyPrint, checked by rendering its first page to PNG
with poppler's pdftoppm and reading its text with pdftotext; downloaded from the portal and
shared as a "Synthèse de mon profil médical" document."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from carnet.core.errors import NotFound
from carnet.documents import services as documents
from carnet.documents.services import SearchFilters
from carnet.profile import services, synthesis
from tests.profile.samples import ITEMS

pytestmark = pytest.mark.django_db


def _fill(holder, pid):
    for kind in (
        "maladie",
        "traitement",
        "allergie",
        "vaccination",
        "tabac",
        "groupe-sanguin",
        "professionnel",
        "contact-urgence",
        "directives-anticipees",
    ):
        services.create_item(holder, patient_id=pid, kind=kind, data=ITEMS[kind][0])
    for day, value in (
        (dt.date(2025, 1, 5), "74"),
        (dt.date(2025, 2, 5), "73"),
        (dt.date(2025, 3, 5), "72"),
    ):
        services.add_measure(holder, patient_id=pid, key="body-weight", value=value, at=day)
    services.add_measure(
        holder,
        patient_id=pid,
        key="blood-pressure",
        value={"systolic": 124, "diastolic": 79},
        at=dt.date(2025, 3, 5),
    )


def first_page_png(pdf: bytes, directory: Path) -> Path:
    source = directory / "synthese.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(directory / "page"),
        ],
        check=True,
        timeout=60,
    )
    return directory / "page.png"


def pdf_text(pdf: bytes, directory: Path) -> str:
    source = directory / "texte.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True, timeout=60
    )
    return result.stdout.decode("utf-8")


def test_the_pdf_renders_to_a_non_empty_png(holder, pid, tmp_path):
    _fill(holder, pid)
    document = synthesis.render_synthesis(holder, patient_id=pid)
    assert document.content.startswith(b"%PDF-")
    png = first_page_png(document.content, tmp_path)
    with Image.open(png) as image:
        grey = image.convert("L")
        width, height = grey.size
        # A4 (210 × 297 mm) at 50 dpi, give or take poppler's rounding.
        assert abs(width - 413) <= 1
        assert abs(height - 585) <= 1
        dark = sum(grey.histogram()[:200])
    # Text, the card and the rules ink a visible share of the page.
    assert dark > 0.01 * width * height


def test_the_pdf_says_what_the_profile_holds(holder, pid, tmp_path):
    _fill(holder, pid)
    text = pdf_text(synthesis.render_synthesis(holder, patient_id=pid).content, tmp_path)
    for expected in (
        "Synthèse de mon profil médical",
        "Dominique PAT-TROIS",
        "Diabète de type 2",
        "Metformine 500 mg",
        "Pénicilline",
        "Grippe saisonnière",
        "Fumeur",
        "O+",
        "Dr Véronique Traitant",
        "Soizic Leguellec",
        "Pas d'acharnement thérapeutique.",
        "72 kg",
        "124/79 mmHg",
        "Renseigné par vous-même",
        "Page 1 / ",
    ):
        assert expected in text, expected


def test_text_typed_by_people_is_printed_never_interpreted(holder, pid, tmp_path):
    hostile = (
        '<img src="http://example.invalid/x.png"><style>@import url(file:///etc/passwd)</style>'
    )
    services.create_item(
        holder, patient_id=pid, kind="maladie", data={"name": hostile[:200], "status": "active"}
    )
    text = pdf_text(synthesis.render_synthesis(holder, patient_id=pid).content, tmp_path)
    assert '<img src="http://example.invalid/x.png">' in text


def test_the_synthesis_is_downloaded_from_the_portal(portal):
    response = portal.get(reverse("portal:profile_synthesis"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="synthese-profil-medical-'
    )
    assert response.content.startswith(b"%PDF-")


def test_another_holder_cannot_get_the_synthesis(other_holder, pid):
    with pytest.raises(NotFound):
        synthesis.render_synthesis(other_holder, patient_id=pid)
    with pytest.raises(NotFound):
        synthesis.share_synthesis(other_holder, patient_id=pid)


def test_sharing_stores_a_profile_synthesis_document(portal, holder, pid, settings, tmp_path):
    settings.CARNET_CONTENT_STORE_URL = f"file://{tmp_path}"
    _fill(holder, pid)
    response = portal.post(reverse("portal:profile_share"), follow=True)
    assert "ajoutée à vos documents" in response.content.decode()
    found = documents.search_documents(holder, patient_id=pid, filters=SearchFilters())
    assert found.total == 1
    entry = found.rows[0]
    assert entry.type_code == synthesis.DOCUMENT_TYPE
    assert entry.title.startswith("Synthèse de mon profil médical du ")
    assert entry.mime_type == "application/pdf"
    _entry, content = documents.read_content(holder, str(entry.pk))
    assert content.startswith(b"%PDF-")
