from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "watchfloor.dashboard"
    label = "dashboard"

    def ready(self) -> None:
        # Sign-ins happen inside django.contrib.auth (this app's login page and the admin's),
        # so its signals are the one place that sees them all.
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import (
            user_logged_in,
            user_logged_out,
            user_login_failed,
        )

        from watchfloor.dashboard import auth_audit

        user_logged_in.connect(auth_audit.on_login, dispatch_uid="watchfloor.audit.login")
        user_login_failed.connect(
            auth_audit.on_login_failed, dispatch_uid="watchfloor.audit.login_failed"
        )
        user_logged_out.connect(auth_audit.on_logout, dispatch_uid="watchfloor.audit.logout")
        user_locked_out.connect(
            auth_audit.on_locked_out, dispatch_uid="watchfloor.audit.locked_out"
        )
