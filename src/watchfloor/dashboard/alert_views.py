"""The alert detail page: header, timeline, correlation group, labels, links and actions.

The page reads a fixed number of queries whatever the size of the timeline or the group: the alert
(with its people joined), its correlation group, the audit entries about it, the people those
entries name, the maintenance window that suppressed it, and the users it may be assigned to.
Actions are not posted here: the page's module (static/watchfloor/js/alert_detail.js) calls the
REST API (`/api/v1/alerts/{id}/acknowledge` …), which checks capability and transition again,
then has htmx swap in the alert's body, which this view renders alone for an htmx request.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_person_name, mask_text, masked_for, person_label
from watchfloor.access.scope import has_capability
from watchfloor.alerts import services as alert_services
from watchfloor.alerts.models import Alert, Status, SuppressionReason
from watchfloor.alerts.queries import (
    access_alert,
    alert_comments,
    assignable_users,
    correlation_group,
)
from watchfloor.alerts.runbooks import RunbookView, runbook_for, runbook_view
from watchfloor.audit.models import Action, AuditLog
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.incident_list import open_incident_of
from watchfloor.dashboard.queries import site_zone
from watchfloor.maintenance.queries import windows_for
from watchfloor.oncall.contact_queries import deliveries_for_alert
from watchfloor.oncall.policy_queries import escalation_out

# The newest audit entries shown on one alert's timeline (an alert escalated every minute for
# days would otherwise make the page unbounded); the page says when some are left out.
AUDIT_LIMIT = 200
GROUP_LIMIT = 100
# A lifecycle step on the alert row and the audit entry written by the same service call are
# the same event: they are merged when action and actor agree and the times are this close.
SAME_STEP = timedelta(seconds=60)
# Label/annotation keys a Prometheus sender uses for the URL of the expression that fired.
GENERATOR_KEYS = ("generatorURL", "generator_url", "generatorUrl")


# --- what the template shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A moment as the person reads it: `text` in their time zone (Django's current zone, which
    PersonTimeZoneMiddleware activates from their settings; UTC when they chose none), labelled
    with the zone; `utc` always in UTC; `local` in the site's zone when that is another one."""

    iso: str
    utc: str
    local: str
    text: str = ""

    @property
    def short(self) -> str:
        """`2025-03-01 14:30`, for a column whose heading says UTC."""
        return self.utc[:16]

    @property
    def short_text(self) -> str:
        """`text` without the seconds: `2025-03-01 08:30 CST`."""
        day_minute, _, rest = self.text.rpartition(":")
        return f"{day_minute} {rest.split(' ', 1)[1]}" if " " in rest else self.text

    @classmethod
    def of(cls, value: datetime | None, tz: zoneinfo.ZoneInfo | None) -> When | None:
        return None if value is None else cls.at(value, tz)

    @classmethod
    def at(cls, value: datetime, tz: zoneinfo.ZoneInfo | None) -> When:
        utc = value.astimezone(UTC)
        mine = timezone.localtime(value)
        local = ""
        if tz is not None and tz.key != "UTC" and str(mine.tzinfo) != tz.key:
            here = value.astimezone(tz)
            local = f"{here:%Y-%m-%d %H:%M:%S} {here.tzname()} (site)"
        return cls(
            iso=utc.isoformat().replace("+00:00", "Z"),
            utc=f"{utc:%Y-%m-%d %H:%M:%S} UTC",
            local=local,
            text=f"{mine:%Y-%m-%d %H:%M:%S} {mine.tzname()}",
        )


def zone_label() -> str:
    """The person's zone, for "times in …" headings."""
    name = timezone.get_current_timezone_name()
    return "UTC" if name in ("UTC", "Etc/UTC") else name.replace("_", " ")


@dataclass
class Step:
    """One row of the timeline."""

    at: datetime
    when: When
    kind: str  # seen, started, suppressed, acknowledge, assign, escalate, resolve, audit
    title: str
    who: str = ""  # the person (masked for this viewer) or the system that did it
    facts: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    link: tuple[str, str] | None = None  # (text, url)
    audited: bool = False
    order: int = 0


@dataclass(frozen=True)
class Person:
    id: int
    label: str


@dataclass
class AlertPage:
    alert: Alert
    title: str
    description: str
    labels: list[tuple[str, str]]
    annotations: list[tuple[str, str]]
    can_view_pii: bool
    when: dict[str, When | None]
    timeline: list[Step]
    audit_truncated: bool
    group: list[dict]
    group_truncated: bool
    links: list[dict]
    actions: dict[str, bool]
    assignees: list[Person]
    assignee: str
    window: Any
    officer: str = ""  # the site's officer in charge, masked for this viewer
    can_reveal: bool = False  # may ask for the officer's contact (noc:reveal_contact)
    runbook: RunbookView | None = None  # the alert type's runbook (its client's, or general)


def safe_url(value: Any) -> str:
    """The URL if it is an absolute http(s) URL, else "": never a `javascript:` or data link."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _person_label(user, pii: bool) -> str:
    return person_label(user, pii) or ""


def _label_of_audit_actor(entry: AuditLog, pii: bool) -> str:
    if entry.actor is not None:
        return _person_label(entry.actor, pii)
    if not entry.actor_label:
        return "Watchfloor"  # a job: the escalation engine, the pipeline
    if pii:
        return entry.actor_label
    return mask_person_name(entry.actor_label)


def _pairs(mapping: Any) -> list[tuple[str, str]]:
    if not isinstance(mapping, dict):
        return []
    return sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in mapping.items())


def _actions(user, alert: Alert) -> dict[str, bool]:
    """Which buttons to show: the capability and a legal transition (the services' rules)."""
    can = lambda cap: has_capability(user, cap)  # noqa: E731
    return {
        "acknowledge": can(Capability.ACK_ALERTS)
        and alert.status in alert_services.ACKNOWLEDGEABLE
        and alert.acknowledged_at is None,
        "assign": can(Capability.ASSIGN_INCIDENTS) and alert.status in alert_services.ASSIGNABLE,
        "escalate": can(Capability.ESCALATE) and alert.status in alert_services.ESCALATABLE,
        "resolve": can(Capability.ACK_ALERTS) and alert.status in alert_services.RESOLVABLE,
        "reopen": can(Capability.ACK_ALERTS) and alert.status == Status.RESOLVED,
        # a comment changes nothing else: open to whoever works alerts, in any status
        "comment": can(Capability.ACK_ALERTS),
    }


def _audit_entries(alert: Alert) -> tuple[list[AuditLog], bool]:
    """The newest AUDIT_LIMIT entries about the alert, oldest first (one query)."""
    rows = list(
        AuditLog.objects.for_tenant(alert.tenant_id)
        .filter(entity_type=Alert._meta.label_lower, entity_id=str(alert.pk))
        .select_related("actor")
        .only(
            "id",
            "created_at",
            "action",
            "details",
            "actor_label",
            "actor__id",
            "actor__username",
            "actor__first_name",
            "actor__last_name",
        )
        .order_by("-id")[: AUDIT_LIMIT + 1]
    )
    truncated = len(rows) > AUDIT_LIMIT
    return rows[:AUDIT_LIMIT][::-1], truncated


_STEP_TITLES: dict[str, str] = {
    Action.ACKNOWLEDGE: "Acknowledged",
    Action.ASSIGN: "Assigned",
    Action.ESCALATE: "Escalated",
    Action.ESCALATION_STEP: "Escalated",
    Action.RESOLVE: "Resolved",
    Action.REOPEN: "Reopened",
    Action.SUPPRESS: "Suppressed",
}
_TARGET_WORDS = {
    "schedule": "on call",
    "officer": "officer in charge",
    "client_owner": "client owner",
    "user": "named person",
    "channel": "team channel",
}


def _paged_ids(entries: list[AuditLog]) -> set[int]:
    """The people escalation steps reached (their names are shown, masked for the viewer)."""
    ids: set[int] = set()
    for entry in entries:
        targets = entry.details.get("targets") if isinstance(entry.details, dict) else None
        for target in targets if isinstance(targets, list) else ():
            if isinstance(target, dict) and isinstance(target.get("user_ids"), list):
                ids.update(i for i in target["user_ids"] if isinstance(i, int))
    return ids


def _escalation_facts(details: dict, people: dict[int, str]) -> list[tuple[str, str]]:
    """An escalation step's audit details in words: which step, whom it reached, how late."""
    facts: list[tuple[str, str]] = []
    step, of, round_ = details.pop("step", None), details.pop("of", None), details.pop("round", 1)
    if step is not None:
        text = f"{step} of {of}" if of else str(step)
        facts.append(("Step", text + (f", round {round_}" if round_ and round_ > 1 else "")))
    reached = []
    for target in details.pop("targets", None) or []:
        if not isinstance(target, dict):
            continue
        kind = str(target.get("kind"))
        what = _TARGET_WORDS.get(kind, kind)
        if "found" in target:  # a channel
            reached.append(f"{what}{'' if target['found'] else ' (inactive or gone)'}")
            continue
        names = [people.get(i, f"user #{i}") for i in target.get("user_ids") or []]
        blind = len(target.get("out_of_scope") or [])
        outside = f" ({blind} outside their scope, not paged)" if blind else ""
        reached.append(f"{what}: {', '.join(names) if names else 'nobody'}{outside}")
    if reached:
        facts.append(("Paged", "; ".join(reached)))
    details.pop("due_at", None)
    late_ms = details.pop("late_ms", None)
    if isinstance(late_ms, int | float) and late_ms >= 1000:
        facts.append(("Taken", f"{late_ms / 1000:.0f} s after it fell due"))
    return facts


def _audit_facts(entry: AuditLog, people: dict[int, str], pii: bool) -> tuple[list, str]:
    """The details of an audit entry as (label, value) pairs, and its note."""
    details = dict(entry.details or {})
    note = details.pop("note", "") or ""
    facts: list[tuple[str, str]] = []
    if "targets" in details:  # an escalation step, automatic or by hand
        facts += _escalation_facts(details, people)
    if "from" in details and "to" in details:
        facts.append(("Status", f"{details.pop('from')} → {details.pop('to')}"))
    elif "from" in details:
        facts.append(("From status", str(details.pop("from"))))
    if "assignee_id" in details:
        assignee_id = details.pop("assignee_id")
        facts.append(("Assignee", people.get(assignee_id, f"user #{assignee_id}")))
    if "resolved_by_id" in details:  # a reopen: who had resolved it
        resolver = details.pop("resolved_by_id")
        if resolver is not None:
            facts.append(("Had been resolved by", people.get(resolver, f"user #{resolver}")))
    if "resolved_at" in details:
        resolved_at = details.pop("resolved_at")
        if resolved_at:
            facts.append(("Had been resolved at", str(resolved_at)[:19].replace("T", " ")))
    if "level" in details:
        facts.append(("Escalation level", str(details.pop("level"))))
    for key, value in sorted(details.items()):
        text = value if isinstance(value, str) else str(value)
        facts.append((key.replace("_", " ").capitalize(), text if pii else mask_text(text)))
    return facts, note if pii else mask_text(str(note))


def _window_url(window_id: int) -> str:
    return reverse("dashboard:maintenance_window", args=[window_id])


def _comment_steps(comments, pii: bool, when) -> list[Step]:
    """Comments on the timeline: who, when, the text (masked without `noc:view_pii`)."""
    return [
        Step(
            at=c.created_at,
            when=when(c.created_at),
            kind="comment",
            title="Comment",
            who=f"by {_person_label(c.author, pii) or 'a removed user'}",
            note=masked_for(None, c.body, can_view_pii=pii),
            audited=True,
            order=3,
        )
        for c in comments
    ]


def _timeline(alert: Alert, entries: list[AuditLog], people, pii, tz, window) -> list[Step]:
    def when(value: datetime) -> When:
        return When.at(value, tz)

    source = f"from {alert.source}" if alert.source else "from the source"
    by_source = f"by the source ({alert.source})" if alert.source else "by the source"
    steps: list[Step] = [
        Step(
            at=alert.first_seen_at,
            when=when(alert.first_seen_at),
            kind="seen",
            title="First seen",
            who=source,
            facts=[("Severity", alert.severity), ("Type", alert.type)],
            order=1,
        )
    ]
    if alert.started_at and alert.started_at != alert.first_seen_at:
        steps.append(
            Step(
                at=alert.started_at,
                when=when(alert.started_at),
                kind="started",
                title="Started (as reported by the source)",
                who=source,
                order=0,
            )
        )
    if alert.suppression_reason:
        facts = [("Repeats suppressed", str(alert.suppressed_count))]
        link = None
        if alert.suppression_reason == SuppressionReason.MAINTENANCE:
            title = "Suppressed by a maintenance window"
            if window is not None:
                title_text = window.title if pii else mask_text(window.title)
                link = (f"Window #{window.id}: {title_text}", _window_url(window.id))
            elif alert.maintenance_window_id:
                facts.append(("Window", f"#{alert.maintenance_window_id} (not in your scope)"))
            else:
                facts.append(("Window", "deleted"))
        else:
            title = "Suppressed by back-pressure (too many new alerts)"
        steps.append(
            Step(
                at=alert.first_seen_at,
                when=when(alert.first_seen_at),
                kind="suppressed",
                title=title,
                who="by Watchfloor",
                facts=facts,
                link=link,
                order=2,
            )
        )
    elif alert.maintenance_window_id:
        # suppressed once, open again since the window ended
        link = None
        if window is not None:
            title_text = window.title if pii else mask_text(window.title)
            link = (f"Window #{window.id}: {title_text}", _window_url(window.id))
        steps.append(
            Step(
                at=alert.first_seen_at,
                when=when(alert.first_seen_at),
                kind="suppressed",
                title="Arrived during a maintenance window (open again since it ended)",
                who="by Watchfloor",
                facts=[("Repeats suppressed", str(alert.suppressed_count))],
                link=link,
                order=2,
            )
        )

    lifecycle = [
        (
            Action.ACKNOWLEDGE,
            alert.acknowledged_at,
            alert.acknowledged_by_id,
            alert.acknowledged_by,
        ),
        (Action.ASSIGN, alert.assigned_at, alert.assigned_by_id, alert.assigned_by),
        (Action.ESCALATE, alert.escalated_at, alert.escalated_by_id, alert.escalated_by),
        (Action.RESOLVE, alert.resolved_at, alert.resolved_by_id, alert.resolved_by),
    ]
    # a comment's audit entry holds only its id: the comment itself is the step
    unmatched = [e for e in entries if e.action != Action.COMMENT]
    for action, at, actor_id, actor in lifecycle:
        if at is None:
            continue
        # the audit entry the same service call wrote; when the row lost its actor (a deleted
        # user), the entry still names them
        match = next(
            (
                e
                for e in unmatched
                if (
                    e.action == action
                    or (action == Action.ESCALATE and e.action == Action.ESCALATION_STEP)
                )
                and (actor_id is None or e.actor_id == actor_id)
                and abs(e.created_at - at) <= SAME_STEP
            ),
            None,
        )
        if actor is not None:
            who = f"by {_person_label(actor, pii)}"
        elif match is not None:
            who = f"by {_label_of_audit_actor(match, pii)}"
        elif action in (Action.ACKNOWLEDGE, Action.RESOLVE):
            who = by_source  # the pipeline's acknowledge/resolve events carry no person
        else:
            who = "by Watchfloor"
        step = Step(
            at=at, when=when(at), kind=str(action), title=_STEP_TITLES[action], who=who, order=3
        )
        if action == Action.ASSIGN and alert.assignee is not None:
            step.facts.append(("Assignee", _person_label(alert.assignee, pii)))
        if action == Action.ESCALATE:
            step.facts.append(("Escalation level", str(alert.escalation_level)))
        if action == Action.RESOLVE and alert.resolution_note:
            step.note = alert.resolution_note if pii else mask_text(alert.resolution_note)
        if match is not None:
            unmatched.remove(match)
            facts, note = _audit_facts(match, people, pii)
            known = {label for label, _ in step.facts}
            step.facts += [f for f in facts if f[0] not in known]
            step.note = step.note or note
            step.audited = True
        steps.append(step)

    for entry in unmatched:
        facts, note = _audit_facts(entry, people, pii)
        steps.append(
            Step(
                at=entry.created_at,
                when=when(entry.created_at),
                kind=(
                    "escalate"
                    if entry.action == Action.ESCALATION_STEP
                    else entry.action
                    if entry.action in _STEP_TITLES
                    else "audit"
                ),
                title=_STEP_TITLES.get(entry.action, entry.get_action_display()),
                who=f"by {_label_of_audit_actor(entry, pii)}",
                facts=facts,
                note=note,
                audited=True,
                order=3,
            )
        )

    last = Step(
        at=alert.last_seen_at,
        when=when(alert.last_seen_at),
        kind="seen",
        title="Last seen",
        who=source,
        facts=[("Occurrences", str(alert.occurrence_count))],
        order=4,
    )
    if alert.occurrence_count > 1 or alert.last_seen_at != alert.first_seen_at:
        steps.append(last)
    return sorted(steps, key=lambda s: (s.at, s.order))


def _group_rows(group: list[Alert], pii: bool) -> list[dict]:
    return [
        {
            "id": a.id,
            "severity": a.severity,
            "status": a.status,
            "type": a.type,
            "title": a.title if pii else mask_text(a.title),
            "site": a.site,
            "client": a.client,
            "first_seen": When.of(a.first_seen_at, None),
            "occurrences": a.occurrence_count,
        }
        for a in group
    ]


def _links(alert: Alert, labels: dict, annotations: dict) -> list[dict]:
    links = []
    for label, raw, note in (
        ("Runbook", alert.runbook_url, ""),
        ("Source", alert.source_url, "the alert in the system that sent it"),
    ):
        if raw:
            links.append({"label": label, "url": safe_url(raw), "text": raw, "note": note})
    if alert.source == "alertmanager":
        for mapping in (annotations, labels):
            for key in GENERATOR_KEYS:
                value = mapping.get(key) if isinstance(mapping, dict) else None
                if isinstance(value, str) and value and value != alert.source_url:
                    links.append(
                        {
                            "label": "Prometheus expression",
                            "url": safe_url(value),
                            "text": value,
                            "note": f"generator URL ({key})",
                        }
                    )
                    break
            else:
                continue
            break
    return links


def alert_page(user, alert_id) -> AlertPage:
    """Everything the page shows, read through the user's scope (404 outside it)."""
    alert = access_alert(user, alert_id)
    pii = has_capability(user, Capability.VIEW_PII)
    tz = site_zone(alert.site.timezone) if alert.site is not None else None
    labels = masked_for(user, alert.labels, can_view_pii=pii)
    annotations = masked_for(user, alert.annotations, can_view_pii=pii)

    entries, audit_truncated = _audit_entries(alert)
    assignee_ids: set[int] = {
        int(e.details[key])
        for e in entries
        for key in ("assignee_id", "resolved_by_id")
        if isinstance(e.details, dict) and isinstance(e.details.get(key), int)
    } | _paged_ids(entries)
    people = {}
    if assignee_ids:
        people = {
            u.id: _person_label(u, pii)
            for u in get_user_model()
            .objects.filter(tenant_id=alert.tenant_id, id__in=assignee_ids)
            .only("id", "username", "first_name", "last_name")
        }
    window = None
    if alert.maintenance_window_id:
        window = (
            windows_for(user)
            .select_related(None)
            .filter(pk=alert.maintenance_window_id)
            .only("id", "title", "tenant_id", "client_id", "site_id")
            .first()
        )
    group = correlation_group(user, alert, limit=GROUP_LIMIT + 1)
    actions = _actions(user, alert)
    assignees = []
    if actions["assign"]:
        assignees = [Person(u.id, _person_label(u, pii)) for u in assignable_users(alert)]

    def when(value: datetime) -> When:
        return When.at(value, tz)

    return AlertPage(
        alert=alert,
        title=alert.title if pii else mask_text(alert.title),
        description=masked_for(user, alert.description, can_view_pii=pii),
        labels=_pairs(labels),
        annotations=_pairs(annotations),
        can_view_pii=pii,
        when={
            "first_seen": when(alert.first_seen_at),
            "last_seen": when(alert.last_seen_at),
            "started": When.of(alert.started_at, tz),
        },
        timeline=sorted(
            [
                *_timeline(alert, entries, people, pii, tz, window),
                *_comment_steps(alert_comments(alert), pii, when),
            ],
            key=lambda s: (s.at, s.order),
        ),
        audit_truncated=audit_truncated,
        group=_group_rows(group[:GROUP_LIMIT], pii),
        group_truncated=len(group) > GROUP_LIMIT,
        links=_links(alert, labels, annotations),
        actions=actions,
        assignees=assignees,
        assignee=_person_label(alert.assignee, pii) if alert.assignee is not None else "",
        window=window,
        officer=_officer_label(alert, pii),
        can_reveal=alert.site_id is not None and has_capability(user, Capability.REVEAL_CONTACT),
        runbook=_runbook(alert, pii),
    )


def _runbook(alert: Alert, pii: bool) -> RunbookView | None:
    runbook = runbook_for(alert)
    return None if runbook is None else runbook_view(runbook, can_view_pii=pii)


def _officer_label(alert: Alert, pii: bool) -> str:
    if alert.site is None or alert.site.officer_in_charge_id is None:
        return ""
    officer = (
        get_user_model()
        .objects.filter(pk=alert.site.officer_in_charge_id)
        .only("id", "username", "first_name", "last_name")
        .first()
    )
    return _person_label(officer, pii)


def _duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def escalation_section(alert: Alert, pii: bool) -> dict | None:
    """The alert's frozen escalation chain (`oncall.policy_queries.escalation_out`) for the page:
    each step taken, next or not reached, the next step's time, and why the chain stopped."""
    chain = escalation_out(alert, pii)
    if chain is None:
        return None
    active = chain["state"] == "active"
    for step in chain["steps"]:
        minutes = step["delay_minutes"]
        step["wait"] = f"{int(minutes)}" if float(minutes).is_integer() else f"{minutes:.1f}"
        if step["taken"]:
            step["status"] = "taken"
        elif active and step["index"] == chain["next_step"]:
            step["status"] = "next"
        else:
            step["status"] = "waiting" if active else "not reached"
    chain["next"] = When.of(chain["next_at"], None) if active else None
    return chain


_DELIVERY_TITLES = {
    "sent": "Notified",
    "failed": "Notification failed",
    "unreachable": "Could not notify: no verified contact method",
    "cancelled": "Notification cancelled",
}


def delivery_steps(deliveries: list[dict], tz) -> list[Step]:
    """Settled deliveries (`oncall.contact_queries.deliveries_for_alert`, already masked for
    the viewer) as timeline rows; pending ones are only in the page's notifications section."""
    steps = []
    for d in deliveries:
        title = _DELIVERY_TITLES.get(d["status"])
        if title is None:
            continue
        at = d["sent_at"] or d["due_at"]
        if d["channel"]:
            who = f"to the team channel {d['channel']['name']}"
        elif d["recipient"]:
            who = f"to {d['recipient']['full_name'] or d['recipient']['username']}"
        else:
            who = "to a removed person"
        facts = [("Step", str(d["step"] + 1))] if d["step"] is not None else []
        if d["medium"]:
            facts.append(("By", d["medium"]))
        if d["status"] == "sent" and d["latency_ms"] is not None:
            facts.append(("Latency", f"{d['latency_ms'] / 1000:.1f} s"))
        if d["attempts"] > 1 or d["status"] == "failed":
            facts.append(("Attempts", str(d["attempts"])))
        if d["error"] and d["status"] != "sent":
            facts.append(("Why", d["error"]))
        steps.append(
            Step(
                at=at,
                when=When.at(at, tz),
                kind="notified",
                title=title,
                who=who,
                facts=facts,
                order=3,
            )
        )
    return steps


def _incident_link(user, alert_id: int, pii: bool) -> dict | None:
    """The open incident the alert belongs to, for a link (its title masked for this viewer)."""
    incident = open_incident_of(user, alert_id)
    if incident is None:
        return None
    return {"id": incident.pk, "title": incident.title if pii else mask_text(incident.title)}


@require_safe
@login_required
@ensure_csrf_cookie  # the page's module sends the cookie's token with each action (http.js)
def alert_detail(request, alert_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    page = alert_page(user, alert_id)
    deliveries = deliveries_for_alert(page.alert, user)
    tz = site_zone(page.alert.site.timezone) if page.alert.site is not None else None
    page.timeline = sorted(
        [*page.timeline, *delivery_steps(deliveries, tz)], key=lambda s: (s.at, s.order)
    )
    context = {
        "nav": "alerts",
        "page": page,
        "a": page.alert,
        "open": page.alert.status != Status.RESOLVED,
        "any_action": any(page.actions.values()),
        "time_to_acknowledge": _duration(page.alert.time_to_acknowledge),
        "time_to_resolve": _duration(page.alert.time_to_resolve),
        "note_max": alert_services.NOTE_MAX,
        "zone_label": zone_label(),
        "escalation": escalation_section(page.alert, page.can_view_pii),
        "deliveries": deliveries,
        "incident": _incident_link(user, page.alert.pk, page.can_view_pii),
    }
    # the page's module re-reads the alert after an action: htmx swaps in the body alone
    template = "dashboard/_alert_body.html" if request.htmx else "dashboard/alert_detail.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
