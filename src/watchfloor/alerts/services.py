"""Lifecycle actions on an alert: acknowledge, assign, resolve (escalating is the escalation
engine's: `watchfloor.oncall.escalation.escalate_now` takes the next step of the chain).

Each checks the actor's capability, locks the row and re-checks its status (two operators acting at
once: one wins, the other gets IllegalTransition → 409), records who and when, writes the audit
log and publishes `alert.updated` / `alert.resolved` after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text
from watchfloor.access.scope import require_capability
from watchfloor.alerts import hooks
from watchfloor.alerts.broadcast import alert_event
from watchfloor.alerts.models import Alert, AlertComment, Status
from watchfloor.alerts.queries import alerts_for, assignable_users
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.events import publish_on_commit

NOTE_MAX = 2000


class IllegalTransition(Exception):
    """The alert's status does not allow this action (the API answers 409)."""

    def __init__(self, action: str, status: str):
        super().__init__(f"Cannot {action} an alert that is {status}.")
        self.action, self.status = action, status


class StillFiring(Exception):
    """Another active alert holds the fingerprint: the resolved one cannot be reopened (409)."""

    def __init__(self, active_id: int | None):
        which = f"Alert #{active_id}" if active_id else "Another alert"
        super().__init__(f"{which} with the same fingerprint is active: work on that one instead.")
        self.active_id = active_id


class InvalidAssignee(ValueError):
    """The assignee is not an active user of the tenant who can see the alert (422)."""


ACKNOWLEDGEABLE = {Status.NEW, Status.ESCALATED}
ASSIGNABLE = {Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.ESCALATED}
ESCALATABLE = {Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.ESCALATED}
RESOLVABLE = {Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.ESCALATED, Status.SUPPRESSED}


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update(no_key=True).get(pk=alert.pk)


def _mark_acknowledged(alert: Alert, actor, now) -> list[str]:
    if alert.acknowledged_at is not None:
        return []
    alert.acknowledged_at = now
    alert.acknowledged_by = actor
    alert.time_to_acknowledge = now - alert.first_seen_at
    return ["acknowledged_at", "acknowledged_by", "time_to_acknowledge"]


def _save_and_audit(alert: Alert, fields: list[str], *, actor, action: Action, details: dict):
    alert.updated_at = timezone.now()
    alert.save(update_fields=[*fields, "updated_at"])
    record(action, actor=actor, tenant=alert.tenant_id, entity=alert, details=details)


def _finish(alert: Alert, fields: list[str], *, actor, action: Action, details: dict, kind: str):
    _save_and_audit(alert, fields, actor=actor, action=action, details=details)
    publish_on_commit([alert_event(kind, alert, actor_id=actor.id)])
    return alert


def clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValueError(f"At most {NOTE_MAX} characters.")
    return note


@transaction.atomic
def acknowledge_alert(alert: Alert, *, actor, details: dict | None = None) -> Alert:
    """`details`: extra audit details (ids only, never PII), e.g. `{"via": "link",
    "delivery_id": 7}` when the acknowledgement came from a notification's link."""
    require_capability(actor, Capability.ACK_ALERTS)
    alert = _locked(alert)
    _acknowledge(alert, actor=actor, details=details)
    publish_on_commit([alert_event("alert.updated", alert, actor_id=actor.id)])
    return alert


def _acknowledge(alert: Alert, *, actor, details: dict | None) -> None:
    """Acknowledge a locked alert: save and audit (the caller publishes)."""
    if alert.status not in ACKNOWLEDGEABLE or alert.acknowledged_at is not None:
        raise IllegalTransition("acknowledge", alert.status)
    previous = alert.status
    fields = _mark_acknowledged(alert, actor, timezone.now())
    # NEW, or ESCALATED while nobody had it (the escalation engine's steps): someone has it now
    alert.status = Status.ACKNOWLEDGED
    fields.append("status")
    _save_and_audit(
        alert,
        fields,
        actor=actor,
        action=Action.ACKNOWLEDGE,
        details={**(details or {}), "from": previous, "to": alert.status},
    )


@transaction.atomic
def assign_alert(alert: Alert, *, actor, assignee, note: str = "") -> Alert:
    """Give the alert to someone; assigning also acknowledges it if nobody had."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    note = clean_note(note)
    alert = _locked(alert)
    if alert.status not in ASSIGNABLE:
        raise IllegalTransition("assign", alert.status)
    if assignee is None or not assignable_users(alert).filter(pk=assignee.pk).exists():
        raise InvalidAssignee(
            "Not an active user of this tenant who can see this alert and acknowledge alerts."
        )
    now = timezone.now()
    previous = alert.status
    fields = _mark_acknowledged(alert, actor, now)
    alert.status = Status.ASSIGNED
    alert.assignee = assignee
    alert.assigned_at = now
    alert.assigned_by = actor
    fields += ["status", "assignee", "assigned_at", "assigned_by"]
    return _finish(
        alert,
        fields,
        actor=actor,
        action=Action.ASSIGN,
        details={"from": previous, "assignee_id": assignee.id, "note": mask_text(note)},
        kind="alert.updated",
    )


@transaction.atomic
def resolve_alert(alert: Alert, *, actor, note: str) -> Alert:
    require_capability(actor, Capability.ACK_ALERTS)
    note = _resolution_note(note)
    alert = _locked(alert)
    _resolve(alert, actor=actor, note=note, details=None)
    publish_on_commit([alert_event("alert.resolved", alert, actor_id=actor.id)])
    hooks.after_commit(hooks.changes(alert.tenant_id, resolved=[alert.id]))
    return alert


def _resolution_note(note: str) -> str:
    note = clean_note(note)
    if not note:
        raise ValueError("Say how it was resolved.")
    return note


def _resolve(alert: Alert, *, actor, note: str, details: dict | None) -> None:
    """Resolve a locked alert: save and audit (the caller publishes)."""
    if alert.status not in RESOLVABLE:
        raise IllegalTransition("resolve", alert.status)
    now = timezone.now()
    previous = alert.status
    alert.status = Status.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = actor
    alert.resolution_note = note
    alert.time_to_resolve = now - alert.first_seen_at
    _save_and_audit(
        alert,
        ["status", "resolved_at", "resolved_by", "resolution_note", "time_to_resolve"],
        actor=actor,
        action=Action.RESOLVE,
        details={**(details or {}), "from": previous},
    )


# --- many alerts at once (the alerts page's bulk actions) -----------------------------------------

BULK_MAX = 500
NOT_FOUND = "not found"


@dataclass
class BulkOutcome:
    """Ids acted on, and the ids left alone with why (missing or out of scope: "not found")."""

    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _bulk(alert_ids, *, actor, apply, kind: str) -> BulkOutcome:
    """Lock the alerts the actor may see (in id order, so two bulk calls cannot deadlock), apply
    the action to each that allows it, and publish one batch of events after commit."""
    ids = list(dict.fromkeys(int(i) for i in alert_ids))
    if len(ids) > BULK_MAX:
        raise ValueError(f"At most {BULK_MAX} alerts at once.")
    locked = {
        a.pk: a
        for a in alerts_for(actor).filter(pk__in=ids).select_for_update(no_key=True).order_by("pk")
    }
    outcome = BulkOutcome()
    events = []
    for alert_id in ids:
        alert = locked.get(alert_id)
        if alert is None:
            outcome.skipped[alert_id] = NOT_FOUND
            continue
        try:
            apply(alert)
        except IllegalTransition as exc:
            outcome.skipped[alert_id] = str(exc)
            continue
        outcome.done.append(alert_id)
        events.append(alert_event(kind, alert, actor_id=actor.id))
    publish_on_commit(events)
    return outcome


@transaction.atomic
def bulk_acknowledge(alert_ids, *, actor, details: dict | None = None) -> BulkOutcome:
    """Acknowledge each alert that allows it, one audit entry per alert, in one transaction.
    `details`: the audit details (ids only; `{"via": "bulk"}` unless told, e.g. an incident's
    acknowledgement passes `{"via": "incident", "incident_id": …}`)."""
    require_capability(actor, Capability.ACK_ALERTS)
    details = details or {"via": "bulk"}
    return _bulk(
        alert_ids,
        actor=actor,
        apply=lambda a: _acknowledge(a, actor=actor, details=details),
        kind="alert.updated",
    )


@transaction.atomic
def bulk_resolve(alert_ids, *, actor, note: str, details: dict | None = None) -> BulkOutcome:
    """Resolve each alert that allows it with the same note, as `bulk_acknowledge` does."""
    require_capability(actor, Capability.ACK_ALERTS)
    note = _resolution_note(note)
    details = details or {"via": "bulk"}
    outcome = _bulk(
        alert_ids,
        actor=actor,
        apply=lambda a: _resolve(a, actor=actor, note=note, details=details),
        kind="alert.resolved",
    )
    hooks.after_commit(hooks.changes(actor.tenant_id, resolved=outcome.done))
    return outcome


@transaction.atomic
def comment_on_alert(alert: Alert, *, actor, body: str) -> AlertComment:
    """A remark on the alert, in any status, that changes nothing else. The audit entry holds
    the comment's id and length only (the text may name people)."""
    require_capability(actor, Capability.ACK_ALERTS)
    body = clean_note(body)
    if not body:
        raise ValueError("Write a comment.")
    alert = _locked(alert)
    now = timezone.now()
    comment = AlertComment.objects.create(
        tenant_id=alert.tenant_id, alert=alert, author=actor, body=body, created_at=now
    )
    _finish(
        alert,
        [],
        actor=actor,
        action=Action.COMMENT,
        details={"comment_id": comment.id, "length": len(body)},
        kind="alert.updated",
    )
    return comment


REOPEN_CLEARS = {
    "acknowledged_at": None,
    "acknowledged_by": None,
    "time_to_acknowledge": None,
    "assignee": None,
    "assigned_at": None,
    "assigned_by": None,
    "escalated_at": None,
    "escalated_by": None,
    "escalation_level": 0,
    "resolved_at": None,
    "resolved_by": None,
    "resolution_note": "",
    "time_to_resolve": None,
}


@transaction.atomic
def reopen_alert(alert: Alert, *, actor, note: str = "") -> Alert:
    """A resolved alert back to NEW, as if it had just opened: nobody has it, its escalation
    starts again (`oncall.escalation.reopen` restarts the chain in the same transaction).

    Only one active alert may hold a fingerprint (the partial unique index): when the source
    has raised it again meanwhile, reopening is refused with `StillFiring` naming that alert.
    The audit entry keeps what was cleared (who resolved it and when), so the timeline still
    shows the first life of the alert.
    """
    require_capability(actor, Capability.ACK_ALERTS)
    note = clean_note(note)
    alert = _locked(alert)
    if alert.status != Status.RESOLVED:
        raise IllegalTransition("reopen", alert.status)
    holder = _fingerprint_holder(alert)
    if holder is not None:
        raise StillFiring(holder)
    details = {
        "from": alert.status,
        "to": Status.NEW,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by_id": alert.resolved_by_id,
        "note": mask_text(note),
    }
    for name, value in REOPEN_CLEARS.items():
        setattr(alert, name, value)
    alert.status = Status.NEW
    alert.updated_at = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: the pipeline may open the fingerprint now
            alert.save(update_fields=["status", *REOPEN_CLEARS, "updated_at"])
    except IntegrityError:
        raise StillFiring(_fingerprint_holder(alert)) from None
    record(Action.REOPEN, actor=actor, tenant=alert.tenant_id, entity=alert, details=details)
    publish_on_commit([alert_event("alert.updated", alert, actor_id=actor.id)])
    return alert


def _fingerprint_holder(alert: Alert) -> int | None:
    return (
        Alert.objects.active()
        .filter(tenant_id=alert.tenant_id, fingerprint=alert.fingerprint)
        .exclude(pk=alert.pk)
        .values_list("id", flat=True)
        .first()
    )
