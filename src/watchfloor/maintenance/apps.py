from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "watchfloor.maintenance"
    verbose_name = "Maintenance windows"
