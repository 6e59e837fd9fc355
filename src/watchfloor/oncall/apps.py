from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "watchfloor.oncall"
    verbose_name = "On-call and escalation"
