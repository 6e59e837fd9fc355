from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "watchfloor.platform"
    label = "watchfloor_platform"
