from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "watchfloor.jobs"
    verbose_name = "Jobs"
