"""The holder's documents pages (names in the `portal` namespace, included from `portal.urls`)."""

from django.urls import path

from carnet.portal.views import documents

urlpatterns = [
    path("", documents.document_list, name="documents"),
    path("ajouter/", documents.document_upload, name="document_upload"),
    path("<uuid:document_id>/", documents.document_detail, name="document"),
    path("<uuid:document_id>/afficher/", documents.document_view, name="document_view"),
    path("<uuid:document_id>/telecharger/", documents.document_download, name="document_download"),
    path(
        "<uuid:document_id>/telecharger-lisible/",
        documents.document_download_readable,
        name="document_download_readable",
    ),
    path(
        "<uuid:document_id>/visibilite/", documents.document_visibility, name="document_visibility"
    ),
    path("<uuid:document_id>/supprimer/", documents.document_delete, name="document_delete"),
]
