from django.apps import AppConfig


class ProConfig(AppConfig):
    name = "carnet.pro"
    label = "pro"
