"""Sign-in throttling per account and per address, with django-axes (docs/decisions.md).

Axes counts failed sign-ins (its database handler: `axes.AccessAttempt` rows, seen by platform
operators in the admin) and, past `WATCHFLOOR_LOGIN_FAILURE_LIMIT` failures within
`WATCHFLOOR_LOGIN_COOLOFF` minutes, refuses further sign-ins to that ACCOUNT (from any address)
and from that ADDRESS (to any account) until the cool-off has passed since the last counted
failure. Attempts during a lock are refused without being counted, so a lock ends when it said.

What is ours here: the backend that lets sign-ins without a request through unthrottled (a
test client's `login()`, a management command: not a web sign-in; the API authenticates by
token and never comes here), the page the locked-out person sees (the sign-in form with "Too
many failed sign-ins; try again in N minutes.", 429), and the log line axes writes, which names
neither the submitted username nor the address (hashes instead: the audit log keeps the address,
for the account's tenant). The audit rows come from auth_audit (signals).
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Q
from django.shortcuts import render
from django.utils import timezone


class SignInThrottleBackend(AxesStandaloneBackend):
    """Axes' check, first in AUTHENTICATION_BACKENDS; it authenticates nobody itself."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:  # not a web sign-in (tests' client.login, commands)
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _digest(value: str | None) -> str:
    if not value:
        return "-"
    return hashlib.sha256(value.encode()).hexdigest()[:10]


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """What axes logs for a client: hashes, never the submitted name or the address."""
    if isinstance(path_info, (tuple, list)):
        path_info = path_info[0] if path_info else ""
    return f"{{account: {_digest(username)}, address: {_digest(ip_address)}, path: {path_info}}}"


def minutes_left(username: str | None, ip_address: str | None) -> int:
    """Whole minutes until the lock that refused this sign-in ends (at least 1): the cool-off
    after the last counted failure of the account or the address."""
    cooloff = timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    match = Q(ip_address=ip_address) if ip_address else Q(pk__in=[])
    if username:
        match |= Q(username=username)
    last = AccessAttempt.objects.filter(match).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return settings.LOGIN_COOLOFF_MINUTES
    left = (last + cooloff - timezone.now()).total_seconds()
    return max(1, math.ceil(left / 60))


def lockout_message(minutes: int) -> str:
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins; try again in {minutes} {unit}."


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page again, with the reason and when to come back; 429."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    minutes = minutes_left(username, getattr(request, "axes_ip_address", None))
    form = AuthenticationForm(request, data=None)
    form.fields["username"].initial = username if isinstance(username, str) else ""
    context = {
        "form": form,
        "lockout": lockout_message(minutes),
        "next": request.POST.get("next", ""),
        "demo": settings.DEMO,
    }
    return render(request, "dashboard/login.html", context, status=429)
