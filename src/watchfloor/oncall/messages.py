"""What a notification says: what, where, severity, how long open, the step, links.

Personal data in a message (the alert's title, description and labels, the assignee's name) is
masked according to the RECIPIENT's capabilities: a person without `noc:view_pii` gets it
masked, and a team channel counts as a recipient without it. Each message has a subject, a plain
text body (email, chat, webhooks) and a short form (SMS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, masked_for, person_label
from watchfloor.access.scope import has_capability
from watchfloor.alerts.models import Alert, Runbook

MAX_DESCRIPTION = 600
MAX_LABELS = 12
SHORT_TITLE = 80


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    short: str


def alert_url(alert_id: int) -> str:
    return f"{settings.PUBLIC_URL}/alerts/{alert_id}/"


def runbook_url(runbook_id: int) -> str:
    """The runbook's page (the message links to it; its text stays on the page, read there
    by whoever may read it)."""
    return f"{settings.PUBLIC_URL}/runbooks/{runbook_id}/"


def open_for(delta: timedelta) -> str:
    """`3 h 05 min`, `17 min`, `40 s`."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def may_see_pii(recipient) -> bool:
    """A person's own capability; a team channel (None) never sees personal data."""
    return recipient is not None and has_capability(recipient, Capability.VIEW_PII)


def _person(user, pii: bool) -> str:
    return person_label(user, pii) or ""


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= SHORT_TITLE else text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def page_message(
    alert: Alert,
    *,
    recipient,
    step: int | None,
    now: datetime,
    ack_link: str | None,
    runbook: Runbook | None = None,
) -> Message:
    """The page about `alert` for `recipient` (a user, or None for a team channel), linking to
    the alert's runbook when it has one (`alerts.runbooks.runbooks_for`)."""
    pii = may_see_pii(recipient)
    title = alert.title if pii else mask_text(alert.title)
    description = masked_for(recipient, alert.description or "", can_view_pii=pii)
    labels = masked_for(recipient, alert.labels or {}, can_view_pii=pii)
    client = alert.client.name if alert.client_id else ""
    site = alert.site.name if alert.site_id else ""
    place = ", ".join(p for p in (alert.site.city, alert.site.state) if p) if site else ""
    where = " · ".join(p for p in (client, site, place) if p) or "no site"
    opened = open_for(now - alert.first_seen_at)
    stage = f"escalation step {step + 1}" if step is not None else "escalated by hand"
    first = alert.first_seen_at.astimezone(UTC)

    lines = [
        f"{alert.severity} alert, open for {opened} ({stage})",
        "",
        f"What:   {title}",
        f"Type:   {alert.type}",
        f"Where:  {where}",
        f"Since:  {first:%Y-%m-%d %H:%M} UTC",
        f"Status: {alert.status}",
    ]
    if alert.assignee_id:
        lines.append(f"Assigned to: {_person(alert.assignee, pii)}")
    if alert.occurrence_count > 1:
        lines.append(f"Seen {alert.occurrence_count} times")
    if description:
        lines += ["", _cut(description, MAX_DESCRIPTION)]
    if isinstance(labels, dict) and labels:
        lines += ["", "Labels:"]
        for key in sorted(labels)[:MAX_LABELS]:
            value = labels[key]
            lines.append(f"  {key}: {_cut(value if isinstance(value, str) else str(value), 200)}")
    lines += ["", f"Open the alert: {alert_url(alert.id)}"]
    if runbook is not None:
        lines.append(f"Runbook: {runbook_url(runbook.id)}")
    if ack_link:
        hours = settings.ACK_LINK_HOURS
        lines.append(f"Acknowledge it (one click, valid {hours} h, works once): {ack_link}")
    lines += ["", "— Watchfloor"]

    place_short = ", ".join(p for p in (site, alert.site.city if site else "") if p)
    short = f"[{alert.severity}] {_cut(title, SHORT_TITLE)}"
    if place_short:
        short += f" @ {place_short}"
    short += f", open {opened}."
    short += f" Ack: {ack_link}" if ack_link else f" {alert_url(alert.id)}"
    subject = f"[{alert.severity}] {_cut(title, SHORT_TITLE)}"
    if site:
        subject += f" — {site}" + (f", {alert.site.city}" if alert.site.city else "")
    return Message(subject=subject, text="\n".join(lines), short=short)


def incident_url(incident_id: int) -> str:
    return f"{settings.PUBLIC_URL}/incidents/{incident_id}/"


def incident_page_message(
    incident: dict,
    lead: Alert,
    *,
    recipient,
    step: int | None,
    now: datetime,
    ack_link: str | None = None,
    runbook: Runbook | None = None,
) -> Message:
    """The page about an incident (`Delivery.context["incident"]`: id, title, severity,
    alert_count, runbook_url), with its lead alert (the worst, oldest) for the place and age."""
    pii = may_see_pii(recipient)
    raw_title = str(incident.get("title") or lead.title)
    title = raw_title if pii else mask_text(raw_title)
    severity = incident.get("severity") or lead.severity
    number = int(incident["id"])
    count = int(incident.get("alert_count") or 1)
    site = lead.site.name if lead.site_id else ""
    client = lead.client.name if lead.client_id else ""
    where = " · ".join(p for p in (client, site, lead.site.city if site else "") if p)
    opened = open_for(now - lead.first_seen_at)
    stage = f"escalation step {step + 1}" if step is not None else "escalated by hand"
    url = incident_url(number)
    lines = [
        f"{severity} incident #{number}, open for {opened} ({stage})",
        "",
        f"What:   {title}",
        f"Alerts: {count}",
        f"Where:  {where or 'several places'}",
        "",
        f"Open the incident: {url}",
    ]
    # the incident's own runbook link, else the runbook page of its lead alert's type
    link = str(incident.get("runbook_url") or "") or (runbook_url(runbook.id) if runbook else "")
    if link:
        lines.append(f"Runbook: {link}")
    if ack_link:
        hours = settings.ACK_LINK_HOURS
        lines.append(
            f"Acknowledge the incident (one click, valid {hours} h, works once): {ack_link}"
        )
    lines += ["", "— Watchfloor"]
    subject = f"[{severity}] Incident #{number}: {_cut(title, SHORT_TITLE)}"
    short = f"[{severity}] Incident #{number}: {_cut(title, SHORT_TITLE)}, {count} alerts."
    short += f" Ack: {ack_link}" if ack_link else f" {url}"
    return Message(subject=subject, text="\n".join(lines), short=short)


def test_message(*, label: str) -> Message:
    text = (
        f"This is a test message from Watchfloor to your contact method “{label}”.\n"
        f"If it reached you, this method works.\n\n{settings.PUBLIC_URL}/settings/notifications/"
    )
    return Message(
        subject="Watchfloor test message",
        text=text,
        short=f"Watchfloor test message to {label}: it works.",
    )


def verify_message(*, code: str, minutes: int) -> Message:
    text = (
        f"Your Watchfloor verification code is {code}.\n"
        f"Enter it within {minutes} minutes where you added this contact method.\n"
        "If you did not ask for it, ignore this message."
    )
    return Message(
        subject=f"Watchfloor verification code {code}",
        text=text,
        short=f"Watchfloor code: {code} (valid {minutes} min)",
    )
