from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "watchfloor.realtime"
    verbose_name = "Real time"
