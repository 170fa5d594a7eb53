from django.urls import path

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
]
