from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "watchfloor.audit"
    verbose_name = "Audit log"
