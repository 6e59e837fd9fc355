from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    name = "watchfloor.snapshots"
    verbose_name = "Snapshots and retention"
