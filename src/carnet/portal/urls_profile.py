"""The medical profile pages (names in the `portal` namespace, included from `portal.urls`)."""

from django.urls import path

from carnet.portal.views import measures, profile

urlpatterns = [
    path("", profile.overview, name="profile"),
    path("synthese.pdf", profile.synthesis_pdf, name="profile_synthesis"),
    path("synthese/partager/", profile.synthesis_share, name="profile_share"),
    path("mesures/", measures.measures, name="profile_measures"),
    path("mesures/<slug:key>/", measures.measure, name="profile_measure"),
    path(
        "mesures/<slug:key>/<uuid:measure_id>/supprimer/",
        measures.measure_delete,
        name="profile_measure_delete",
    ),
    path("rubrique/<slug:slug>/", profile.section, name="profile_section"),
    path("rubrique/<slug:slug>/ajouter/<slug:kind>/", profile.item_add, name="profile_item_add"),
    path("element/<uuid:item_id>/modifier/", profile.item_edit, name="profile_item_edit"),
    path("element/<uuid:item_id>/supprimer/", profile.item_delete, name="profile_item_delete"),
    path("element/<uuid:item_id>/masquer/", profile.item_hide, name="profile_item_hide"),
]
