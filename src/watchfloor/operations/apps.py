from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "watchfloor.operations"
    verbose_name = "Operations feeds"
