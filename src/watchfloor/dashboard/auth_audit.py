"""Audit entries for sign-in, failed sign-in, a sign-in refused by the throttle, and sign-out.

A failed attempt records only that it failed, where (path) and from which IP (the audit context
adds it): never the submitted username, which is often a mistyped password or someone's email.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from watchfloor.audit.models import Action
from watchfloor.audit.services import record


def _path(request) -> str:
    return getattr(request, "path", "") or ""


def on_login(sender, request, user, **kwargs) -> None:
    record(Action.LOGIN, actor=user, details={"path": _path(request)})


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """When the name is an existing account, the entry goes to its tenant (as an entity id), so
    a tenant's auditors see attempts on their accounts; the submitted text is never kept."""
    account = _account(credentials.get("username"))
    record(
        Action.LOGIN_FAILED,
        tenant=account.tenant if account and account.tenant_id else None,
        entity_type="tenancy.user" if account else "",
        entity_id=account.pk if account else "",
        details={"path": _path(request)},
    )


def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """A sign-in refused by the throttle (signin_throttle; axes' `user_locked_out`), when the
    lock starts and at every attempt during it: an ACCESS_DENIED entry, under the account's
    tenant when the name is an existing account; the submitted text is never kept."""
    account = _account(username)
    record(
        Action.ACCESS_DENIED,
        tenant=account.tenant if account and account.tenant_id else None,
        entity_type="tenancy.user" if account else "",
        entity_id=account.pk if account else "",
        details={"path": _path(request), "reason": "too many failed sign-ins"},
    )


def _account(username):
    if not isinstance(username, str) or not username:
        return None
    return get_user_model().objects.filter(username=username).only("id", "tenant_id").first()


def on_logout(sender, request, user, **kwargs) -> None:
    # user is None when the session had already expired: nothing to attribute
    if user is not None:
        record(Action.LOGOUT, actor=user, details={"path": _path(request)})
