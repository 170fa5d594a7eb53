from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "carnet.messaging"
    label = "messaging"
