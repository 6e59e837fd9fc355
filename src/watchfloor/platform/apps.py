from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "watchfloor.platform"
    label = "watchfloor_platform"

    def ready(self) -> None:
        from watchfloor.platform import pg_timestamps

        pg_timestamps.install()
