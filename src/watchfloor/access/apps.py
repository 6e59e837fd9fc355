from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "watchfloor.access"
    verbose_name = "Access control"
