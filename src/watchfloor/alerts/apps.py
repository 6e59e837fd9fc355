from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "watchfloor.alerts"
    verbose_name = "Alerts"
