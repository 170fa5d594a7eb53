from django.urls import path

from carnet.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("connexion/", views.login_view, name="login"),
    path("connexion/code/", views.login_code_view, name="login_code"),
    path("connexion/code/renvoyer/", views.login_code_resend, name="login_code_resend"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("espace/", views.switch_space, name="switch_space"),
    path("rubrique/<slug:slug>/", views.section, name="section"),
]
