from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "watchfloor.api"
    label = "api"
