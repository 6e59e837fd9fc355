from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "watchfloor.dashboard"
    label = "dashboard"
