"""`/ack/<token>/`: the one-click acknowledge link of a notification.

The link is the credential: no sign-in. GET shows what the link would do and a button; only the
POST (a CSRF-protected form) acknowledges, so mail scanners that open links acknowledge nothing.
The acknowledgement is the recipient's own (`oncall.ack_links.use`): their capability is checked,
it is audited with the delivery it came from and published live.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from watchfloor.access.masking import mask_text, shown_name
from watchfloor.alerts.models import Status
from watchfloor.oncall import ack_links
from watchfloor.oncall.messages import alert_url, may_see_pii, open_for

TOKEN_MAX = 2000

MESSAGES = {
    "invalid": (
        "This link is not valid",
        "It may have been cut or changed on its way. Open the alert from Watchfloor instead.",
    ),
    "expired": (
        "This link has expired",
        "Acknowledge links work for a limited time. Open the alert from Watchfloor instead.",
    ),
    "used": ("This link was used already", "Each acknowledge link works once."),
    "forbidden": (
        "You may not acknowledge alerts",
        "Your account has no role that grants noc:ack_alerts. The attempt was recorded.",
    ),
    "already_acknowledged": (
        "Nothing to acknowledge",
        "Someone acknowledged or closed this alert already.",
    ),
    "gone": (
        "This link no longer works",
        "The notification, the alert or your account it was sent for no longer exists.",
    ),
}


def _summary(alert, recipient) -> dict:
    pii = may_see_pii(recipient)
    site = alert.site
    name = recipient.get_full_name() or recipient.username
    return {
        "id": alert.id,
        "title": alert.title if pii else mask_text(alert.title),
        "severity": alert.severity,
        "status": alert.status,
        "type": alert.type,
        "where": " · ".join(
            p
            for p in (
                alert.client.name if alert.client_id else "",
                site.name if site else "",
                site.city if site else "",
            )
            if p
        ),
        "open_for": open_for(timezone.now() - alert.first_seen_at),
        "url": alert_url(alert.id),
        "recipient": shown_name(name, pii),
    }


def _incident_of(link) -> dict | None:
    """What a page about an incident says it is about (the incidents app wrote it on the
    delivery), shaped for the page; None for a page about one alert."""
    about = (link.delivery.context or {}).get("incident") if link.delivery else None
    if not isinstance(about, dict) or "id" not in about:
        return None
    pii = may_see_pii(link.user)
    title = str(about.get("title") or "")
    return {
        "id": about["id"],
        "title": title if pii else mask_text(title),
        "severity": about.get("severity", ""),
        "alert_count": about.get("alert_count"),
        "url": reverse("dashboard:incident", kwargs={"incident_id": int(about["id"])}),
    }


def _refused(request, reason: str, alert=None, recipient=None, status=None):
    title, text = MESSAGES[reason]
    context = {"state": "refused", "reason": reason, "heading": title, "text": text}
    if alert is not None:
        context["alert_url"] = alert_url(alert.id)
    return render(
        request,
        "dashboard/ack_link.html",
        context,
        status=status or ack_links.LinkRefused.STATUS[reason],
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def ack_link(request, token: str):
    if len(token) > TOKEN_MAX:
        return _refused(request, "invalid")
    if request.method == "POST":
        try:
            incident = _incident_of(ack_links.inspect(token))
        except ack_links.LinkRefused:
            incident = None  # `use` says why, and audits it
        try:
            alert = ack_links.use(token)
        except ack_links.LinkRefused as exc:
            return _refused(request, exc.reason, exc.alert)
        done = {"state": "done", "url": alert_url(alert.id), "incident": incident}
        return render(request, "dashboard/ack_link.html", done)
    try:
        link = ack_links.inspect(token)
    except ack_links.LinkRefused as exc:
        return _refused(request, exc.reason)
    if link.used_at is not None:
        return _refused(request, "used", link.alert)
    alert = link.alert
    if alert.acknowledged_at is not None or alert.status not in (Status.NEW, Status.ESCALATED):
        return _refused(request, "already_acknowledged", alert)
    context = {
        "state": "confirm",
        "a": _summary(alert, link.user),
        "incident": _incident_of(link),
        "token": token,
    }
    return render(request, "dashboard/ack_link.html", context)
