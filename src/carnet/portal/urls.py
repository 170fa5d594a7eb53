from django.urls import include, path

from carnet.portal.views import account, home

app_name = "portal"

urlpatterns = [
    path("", home.home, name="home"),
    path("connexion/", account.login_view, name="login"),
    path("connexion/code/", account.login_code_view, name="login_code"),
    path("connexion/code/renvoyer/", account.login_code_resend, name="login_code_resend"),
    path("deconnexion/", account.logout_view, name="logout"),
    path("espace/", account.switch_space, name="switch_space"),
    path("rubrique/<slug:slug>/", home.section, name="section"),
    # One line per area, each with its own views module and URL list:
    path("", include("carnet.portal.views.notifications")),
    path("documents/", include("carnet.portal.urls_documents")),
    path("profil/", include("carnet.portal.urls_profile")),
    path("", include("carnet.portal.views.access")),
    path("historique/", include("carnet.portal.views.trace")),
    path("messagerie/", include("carnet.portal.views.messaging")),
]
