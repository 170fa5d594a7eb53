"""The holder's document list: categories, type, author and title filters, date sort, paging,
htmx fragments, who deposited each document and when, the "new" and "hidden" badges; nothing
the gate hides is listed or counted, and bad criteria get a French answer, never a 500."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from carnet.audit.models import AuditEvent
from carnet.identity.services import actor_for_professional
from tests.portal import documents_support as support

pytestmark = pytest.mark.django_db

URL = "/documents/"


@pytest.fixture
def holder():
    return support.ans_test_patient()


@pytest.fixture
def holder_client(logged_in_client, holder):
    return logged_in_client(holder.user)


def _titles(html: str) -> list[str]:
    return re.findall(r'<h3 class="document__title"><a href="[^"]+">([^<]+)</a>', html)


def _get(client, **params) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_needs_a_login():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_the_documents_menu_entry_leads_to_the_list(holder_client):
    assert reverse("portal:documents") == URL
    page = _get(holder_client)
    assert f'<a href="{URL}" aria-current="page">Documents</a>' in page
    assert "<h1>Mes documents de santé</h1>" in page


def test_each_row_says_who_deposited_it_and_when(holder_client, holder, personas):
    support.upload(holder, title="Mon ordonnance")
    support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    support.deposit_pdf(holder, support.INSURER, 1, type_code="REMB", title="Relevé de soins")
    page = _get(holder_client)
    assert _titles(page) == [
        "Mon ordonnance",
        "Relevé de soins",
        "Compte rendu d&#x27;examens biologiques",
    ]
    assert "Déposé par vous le " in page
    assert "Déposé par l&#x27;Assurance Maladie le " in page
    assert f"Déposé par {personas.doctor} le " in page
    # What others deposited is new to the holder; their own upload is not.
    assert page.count('class="badge badge--new"') == 2
    assert "<dt>Date du document</dt><dd>1 avril 2021</dd>" in page


def test_the_ten_categories_are_filters_with_exact_counts(holder_client, holder, personas):
    support.upload(holder, title="Ordonnance 1")
    support.upload(holder, title="Ordonnance 2", content=support.PDF + b"%2")
    support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    page = _get(holder_client)
    assert page.count('class="chip__input" type="radio" name="categorie"') == 11  # + "Toutes"
    assert 'Toutes <span class="chip__count">(3)</span>' in page
    assert 'Ordonnances et soins <span class="chip__count">(2)</span>' in page
    assert 'Résultats de biologie <span class="chip__count">(1)</span>' in page
    assert 'Certificats médicaux <span class="chip__count">(0)</span>' in page
    filtered = _get(holder_client, categorie="resultats-de-biologie")
    assert _titles(filtered) == ["Compte rendu d&#x27;examens biologiques"]
    assert 'value="resultats-de-biologie" checked' in filtered


def test_type_and_author_filters_offer_what_the_space_holds(holder_client, holder, personas):
    support.upload(holder, title="Mon ordonnance")
    support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    support.deposit_pdf(holder, support.INSURER, 1, type_code="REMB", title="Relevé de soins")
    page = _get(holder_client)
    assert '<option value="REMB">Données de remboursement</option>' in page
    assert '<option value="11502-2">CR d&#x27;examens biologiques</option>' in page
    assert '<option value="Assurance Maladie">L&#x27;Assurance Maladie</option>' in page
    assert _titles(_get(holder_client, type="REMB")) == ["Relevé de soins"]
    by_doctor = _get(holder_client, auteur=str(personas.doctor))
    assert _titles(by_doctor) == ["Compte rendu d&#x27;examens biologiques"]
    # The choice is one depositor exactly, not every name that contains it.
    assert _titles(_get(holder_client, auteur=str(personas.doctor)[:-1])) == []
    assert f'<option value="{personas.doctor}" selected>' in by_doctor


def test_search_looks_in_titles(holder_client, holder):
    support.upload(holder, title="Ordonnance de kinésithérapie")
    support.upload(holder, title="Radio du genou", category="imagerie", content=support.PDF + b"%")
    assert _titles(_get(holder_client, q="ORDONNANCE DE")) == ["Ordonnance de kinésithérapie"]
    assert _titles(_get(holder_client, q="kiné")) == ["Ordonnance de kinésithérapie"]
    assert _titles(_get(holder_client, q="KINESITHERAPIE")) == ["Ordonnance de kinésithérapie"]
    assert 'value="kiné"' in _get(holder_client, q="kiné")
    assert "Aucun document ne correspond à ces critères." in _get(holder_client, q="scanner")


def test_most_recent_first_and_oldest_first(holder_client, holder):
    for number in (3, 1, 2):
        support.deposit_pdf(holder, support.INSURER, number, type_code="REMB")
    assert _titles(_get(holder_client)) == ["Compte rendu 03", "Compte rendu 02", "Compte rendu 01"]
    oldest = _get(holder_client, tri="anciens")
    assert _titles(oldest) == ["Compte rendu 01", "Compte rendu 02", "Compte rendu 03"]
    assert '<option value="anciens" selected>' in oldest


def test_twenty_documents_per_page_with_accessible_pagination(holder_client, holder):
    for number in range(1, 26):
        support.deposit_pdf(holder, support.INSURER, number, type_code="REMB")
    first = _get(holder_client, tri="anciens")
    assert len(_titles(first)) == 20
    assert "25 documents — page 1 sur 2" in first
    assert '<nav class="pagination" aria-label="Pages de résultats">' in first
    assert 'aria-current="page" aria-label="Page 1, page actuelle"' in first
    assert 'href="/documents/?tri=anciens&amp;page=2"' in first
    second = _get(holder_client, tri="anciens", page=2)
    assert _titles(second) == [f"Compte rendu {n}" for n in range(21, 26)]
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second
    beyond = _get(holder_client, page=9)
    assert "Cette page est vide." in beyond


def test_htmx_gets_the_results_fragment_only(holder_client, holder):
    support.upload(holder, title="Mon ordonnance")
    response = holder_client.get(URL, {"q": "ordo"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "document-filters" not in html
    assert _titles(html) == ["Mon ordonnance"]
    assert '<p id="documents-status" hx-swap-oob="innerHTML">1 document trouvé</p>' in html
    assert "HX-Request" in response["Vary"]
    # A page link clicked through htmx moves the focus to the new results.
    paged = holder_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="pagination-next")
    assert 'id="results-title" tabindex="-1" autofocus' in paged.content.decode()


def test_htmx_history_restore_gets_the_whole_page(holder_client, holder):
    response = holder_client.get(
        URL, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" in html
    assert html.count('id="documents-status"') == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"categorie": "inconnue"}, "Catégorie : Sélectionnez un choix valide"),
        ({"type": "PAS-UN-TYPE"}, "Ce type de document n&#x27;existe pas."),
        ({"page": "abc"}, "Page : Saisissez un nombre entier."),
        ({"page": "0"}, "Page : "),
        ({"tri": "nimporte"}, "Trier par date : Sélectionnez un choix valide"),
        ({"q": "x" * 300}, "Rechercher dans les titres : "),
    ],
)
def test_bad_criteria_get_a_french_message_not_a_500(holder_client, holder, params, message):
    response = holder_client.get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    partial = holder_client.get(URL, params, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200  # htmx only swaps 2xx answers
    assert "Critères de recherche à corriger" in partial.content.decode()


def test_documents_invisible_to_the_patient_are_neither_listed_nor_counted(
    holder_client, holder, personas
):
    support.upload(holder, title="Mon ordonnance")
    doctor = actor_for_professional(personas.doctor, channel="api")
    support.deposit_pdf(
        holder, doctor, 1, title="Annonce à venir", labels=frozenset({"INVISIBLE_PATIENT"})
    )
    page = _get(holder_client)
    assert _titles(page) == ["Mon ordonnance"]
    assert 'Toutes <span class="chip__count">(1)</span>' in page
    assert 'Comptes rendus <span class="chip__count">(0)</span>' in page
    assert "Annonce" not in page


def test_another_holder_sees_none_of_these_documents(logged_in_client, holder, personas):
    support.upload(holder, title="Mon ordonnance")
    page = logged_in_client(personas.other_patient.user).get(URL).content.decode()
    assert _titles(page) == []
    assert "Votre espace ne contient encore aucun document." in page


def test_a_representative_lists_the_minor_documents(logged_in_client, personas):
    client = logged_in_client(personas.parent)
    client.post(reverse("portal:switch_space"), {"space": str(personas.minor.pk)})
    support.upload_for(personas.parent, personas.minor, title="Carnet de vaccination")
    page = _get(client)
    assert _titles(page) == ["Carnet de vaccination"]
    assert "Déposé par vous le " in page


def test_each_search_is_traced_in_the_holder_trail(holder_client, holder):
    before = AuditEvent.objects.filter(patient_id=holder.pk).count()
    holder_client.get(URL, {"q": "radio"}, HTTP_HX_REQUEST="true")
    events = AuditEvent.objects.filter(patient_id=holder.pk)
    assert events.count() == before + 1
    event = events.latest("seq")
    assert (event.action, event.outcome) == ("documents:document:search", "allowed")
    assert event.details["filters"]["text"] == "radio"
