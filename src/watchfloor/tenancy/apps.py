from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "watchfloor.tenancy"
    verbose_name = "Tenancy"
