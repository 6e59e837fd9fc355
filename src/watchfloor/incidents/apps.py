from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "watchfloor.incidents"
    verbose_name = "Incidents"
