from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "watchfloor.demo"
    label = "demo"
