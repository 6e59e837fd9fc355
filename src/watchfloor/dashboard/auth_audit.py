"""Audit entries for sign-in, failed sign-in and sign-out.

A failed attempt records only that it failed, where (path) and from which IP (the audit context
adds it): never the submitted username, which is often a mistyped password or someone's email.
"""

from __future__ import annotations

from watchfloor.audit.models import Action
from watchfloor.audit.services import record


def _path(request) -> str:
    return getattr(request, "path", "") or ""


def on_login(sender, request, user, **kwargs) -> None:
    record(Action.LOGIN, actor=user, details={"path": _path(request)})


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    record(Action.LOGIN_FAILED, details={"path": _path(request)})


def on_logout(sender, request, user, **kwargs) -> None:
    # user is None when the session had already expired: nothing to attribute
    if user is not None:
        record(Action.LOGOUT, actor=user, details={"path": _path(request)})
