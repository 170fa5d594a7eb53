"""Hiding a document from professionals and showing it again, deleting what the holder added
(with a confirmation step): POST with CSRF only, French messages, 404 for anyone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from carnet.documents import services
from tests.portal import documents_support as support

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder():
    return support.ans_test_patient()


@pytest.fixture
def holder_client(logged_in_client, holder):
    return logged_in_client(holder.user)


def _url(name: str, document) -> str:
    return reverse(f"portal:{name}", args=[document.pk])


def _reload(holder, document):
    return services.get_document(support.holder_actor(holder), str(document.pk))


def test_the_holder_hides_a_document_from_professionals_and_shows_it_again(
    holder_client, holder, personas
):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    response = holder_client.post(_url("document_visibility", document), {"visibilite": "masque"})
    assert response.status_code == 302
    assert response["Location"] == _url("document", document)
    assert _reload(holder, document).masked
    page = holder_client.get(response["Location"]).content.decode()
    assert "Document masqué : les professionnels de santé ne le voient plus" in page
    assert '<span class="badge badge--masked">Masqué aux professionnels</span>' in page
    assert "Ne plus masquer aux professionnels" in page
    listed = holder_client.get("/documents/").content.decode()
    assert '<span class="badge badge--masked">Masqué aux professionnels</span>' in listed

    holder_client.post(_url("document_visibility", document), {"visibilite": "visible"})
    assert not _reload(holder, document).masked
    page = holder_client.get(_url("document", document)).content.decode()
    assert "Document de nouveau visible par les professionnels de santé autorisés." in page
    assert "badge--masked" not in page


def test_an_unknown_visibility_changes_nothing(holder_client, holder):
    document = support.upload(holder)
    response = holder_client.post(_url("document_visibility", document), {"visibilite": "x"})
    assert response.status_code == 302
    assert not _reload(holder, document).masked
    page = holder_client.get(response["Location"]).content.decode()
    assert "Choix de visibilité non reconnu : rien n&#x27;a été modifié." in page


def test_visibility_changes_only_by_post_with_csrf(holder, holder_client):
    document = support.upload(holder)
    assert holder_client.get(_url("document_visibility", document)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(holder.user)
    response = strict.post(_url("document_visibility", document), {"visibilite": "masque"})
    assert response.status_code == 403
    assert not _reload(holder, document).masked


def test_the_holder_deletes_their_upload_after_confirming(holder_client, holder, content_store):
    document = support.upload(holder, title="Ordonnance périmée")
    page = holder_client.get(_url("document", document)).content.decode()
    assert f'href="{_url("document_delete", document)}"' in page
    confirmation = holder_client.get(_url("document_delete", document))
    assert confirmation.status_code == 200
    assert "Supprimer ce document ?" in confirmation.content.decode()
    assert _reload(holder, document)  # a GET deletes nothing
    response = holder_client.post(_url("document_delete", document))
    assert response["Location"] == "/documents/"
    listed = holder_client.get("/documents/").content.decode()
    assert "« Ordonnance périmée » a été supprimé." in listed
    assert "document__title" not in listed
    assert holder_client.get(_url("document", document)).status_code == 404
    assert not [path for path in content_store.rglob("*") if path.is_file()]


def test_a_professional_document_cannot_be_deleted_by_the_holder(holder_client, holder, personas):
    document = support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    for response in (
        holder_client.get(_url("document_delete", document)),
        holder_client.post(_url("document_delete", document)),
    ):
        assert response["Location"] == _url("document", document)
    page = holder_client.get(_url("document", document)).content.decode()
    assert "Vous ne pouvez supprimer que les documents que vous avez ajoutés vous-même." in page
    assert _reload(holder, document)


def test_deleting_needs_the_csrf_token(holder):
    document = support.upload(holder)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(holder.user)
    assert strict.post(_url("document_delete", document)).status_code == 403
    assert _reload(holder, document)


@pytest.mark.parametrize("name", ["document_visibility", "document_delete"])
def test_another_holder_gets_a_404_and_changes_nothing(logged_in_client, holder, personas, name):
    document = support.upload(holder)
    stranger = logged_in_client(personas.other_patient.user)
    assert stranger.post(_url(name, document), {"visibilite": "masque"}).status_code == 404
    assert not _reload(holder, document).masked
