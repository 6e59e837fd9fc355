from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "watchfloor.reports"
    verbose_name = "Reports"
