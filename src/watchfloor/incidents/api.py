"""Incidents: list, detail, open from alerts, the lifecycle actions, membership, merge, notes,
edits, and the tenant's incident policy.

Object endpoints read the incident through `access_incident` first (another tenant's id, or one
outside the caller's scope, is the same 404 whatever their capabilities), then the service checks
the capability of the action (403, audited as access_denied). Ids named in a body (alerts, the
incident to merge into or move to, people) that the caller cannot see are a 422 naming the field.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for, person_label, person_view
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.alerts.api import alert_out
from watchfloor.alerts.queries import access_alert, alerts_for
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.incidents import queries, services
from watchfloor.incidents.models import Incident, IncidentAlert, Origin
from watchfloor.incidents.schemas import (
    AlertsIn,
    AssigneesOut,
    AssignIn,
    EditIn,
    IncidentCreateIn,
    IncidentDetailOut,
    IncidentListQuery,
    IncidentPage,
    JoinedOut,
    MergeIn,
    MoveIn,
    NoteIn,
    PolicyIn,
    PolicyOut,
    ReopenIn,
    ResolveIn,
)

router = Router(tags=["incidents"])
ASSIGNEES_LIMIT = 500


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", "The request is not valid.", {field: message})


def _place(incident: Incident) -> dict:
    client, site = incident.client, incident.site
    return {
        "client": client and {"id": client.id, "code": client.code, "name": client.name},
        "site": site
        and {
            "id": site.id,
            "code": site.code,
            "name": site.name,
            "city": site.city,
            "state": site.state,
        },
    }


def incident_out(incident: Incident, pii: bool, *, alert_count: int, now) -> dict:
    return {
        "id": incident.id,
        "title": masked_for(None, incident.title, can_view_pii=pii),
        "severity": incident.severity,
        "status": incident.status,
        "origin": incident.origin,
        **_place(incident),
        "commander": person_view(incident.commander, pii),
        "alert_count": alert_count,
        "sla": queries.sla_state(incident, now),
        "correlation_id": incident.correlation_id,
        "external_ref": masked_for(None, incident.external_ref, can_view_pii=pii),
        "merged_into_id": incident.merged_into_id,
        "reopen_count": incident.reopen_count,
        "opened_at": incident.opened_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "closed_at": incident.closed_at,
        "updated_at": incident.updated_at,
    }


def incident_detail(user, incident_id: int) -> dict:
    """The incident as the user may see it, with its alerts, people, timeline and updates."""
    incident = queries.access_incident(user, incident_id)
    pii = has_capability(user, Capability.VIEW_PII)
    alerts = queries.incident_alerts(incident)
    count = IncidentAlert.objects.filter(incident_id=incident.pk, left_at__isnull=True).count()
    out = incident_out(incident, pii, alert_count=count, now=timezone.now())
    people = {
        name: person_view(getattr(incident, name), pii)
        for name in ("opened_by", "acknowledged_by", "resolved_by", "closed_by")
    }
    out.update(
        {
            "summary": masked_for(user, incident.summary, can_view_pii=pii),
            "runbook_url": incident.runbook_url,
            "resolution_note": masked_for(user, incident.resolution_note, can_view_pii=pii),
            **people,
            "ack_breached_at": incident.ack_breached_at,
            "resolve_breached_at": incident.resolve_breached_at,
            "alerts": [alert_out(a, pii) for a in alerts],
            "responders": [
                {"user": person_view(r.user, pii), "added_at": r.added_at}
                for r in queries.responders(incident)
            ],
            "timeline": queries.timeline(incident, user),
            "status_updates": [
                {
                    "id": u.id,
                    "phase": u.phase,
                    "body": masked_for(user, u.body, can_view_pii=pii),
                    "posted_at": u.posted_at,
                    "posted_by": person_view(u.posted_by, pii),
                }
                for u in queries.status_updates(incident)
            ],
        }
    )
    return out


def _visible_alerts(user, ids: list[int], field: str = "alert_ids") -> list:
    """The alerts named in a body; any the caller cannot see is a 422 (as if it did not exist)."""
    found = {a.pk: a for a in alerts_for(user).filter(pk__in=ids)}
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20])
        raise _invalid(field, f"Not found: {shown}.")
    return [found[i] for i in dict.fromkeys(ids)]


def _referenced(user, incident_id: int, field: str) -> Incident:
    try:
        return queries.access_incident(user, incident_id)
    except Http404:
        raise _invalid(field, "Not found.") from None


def _run(call):
    try:
        return call()
    except services.IllegalTransition as exc:
        raise ApiError(409, "illegal_transition", str(exc), {"status": exc.status}) from None
    except services.IncidentError as exc:
        raise _invalid(exc.field, str(exc)) from None


def _act(request: HttpRequest, incident_id: int, action) -> dict:
    """Scope first (404), then the action (its capability: 403), then the detail."""
    user = request.auth  # type: ignore[attr-defined]
    require_capability(user, Capability.VIEW)
    incident = queries.access_incident(user, incident_id)
    _run(lambda: action(incident, user))
    return incident_detail(user, incident_id)


# --- reads ------------------------------------------------------------------------------------


@router.get("/incidents", response=IncidentPage)
def list_incidents(request, filters: Query[IncidentListQuery]):
    """Newest opened first. `sla` is the overall SLA state now (`ok`, `at_risk`: past 75 % of a
    target not met yet, `breached`); `opened_since`/`opened_until` bound when it opened; `q`
    searches titles, the external reference, or an incident number."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    try:
        page = queries.incident_page(
            user, filters.to_filters(), cursor=filters.cursor, limit=filters.limit
        )
    except queries.InvalidListQuery as exc:
        raise _invalid(exc.field, str(exc)) from None
    pii = has_capability(user, Capability.VIEW_PII)
    now = timezone.now()
    # alert_count: annotated by queries.incidents_for
    counts = {i.pk: getattr(i, "alert_count", 0) for i in page.items}
    return {
        "items": [incident_out(i, pii, alert_count=counts[i.pk], now=now) for i in page.items],
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


@router.get("/incidents/{incident_id}", response=IncidentDetailOut)
def get_incident(request, incident_id: Id):
    """With its alerts (at most 500), responders, timeline (the newest 1,000 entries, oldest
    first; notes masked without `noc:view_pii`) and client status updates."""
    require_capability(request.auth, Capability.VIEW)
    return incident_detail(request.auth, incident_id)


@router.get("/incidents/{incident_id}/assignees", response=AssigneesOut)
def list_assignees(request, incident_id: Id):
    """Who may be the commander or a responder: active users of the tenant who can see the
    incident and act on alerts (`noc:ack_alerts`), exactly whom `POST …/assign` accepts."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    incident = queries.access_incident(user, incident_id)
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    pii = has_capability(user, Capability.VIEW_PII)
    people = queries.assignable_people(incident)[:ASSIGNEES_LIMIT]
    return {
        "incident_id": incident.id,
        "assignees": [{"id": p.id, "name": person_label(p, pii)} for p in people],
    }


# --- open and membership ----------------------------------------------------------------------


@router.post("/incidents", response={201: IncidentDetailOut})
def create_incident(request, data: IncidentCreateIn):
    """A new incident from alerts the caller can see ("new incident from these alerts");
    alerts already in an open incident are left where they are (422 if that is all of them).
    Needs `noc:assign_incidents`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    alerts = _visible_alerts(user, data.alert_ids)
    incident = _run(
        lambda: services.open_incident(
            alerts, actor=user, origin=Origin.MANUAL, title=data.title, tenant=user.tenant_id
        )
    )
    return Status(201, incident_detail(user, incident.id))


def _joined(user, incident_id: int, wanted: list[int], joined: list[int]) -> dict:
    return {
        "joined": joined,
        "skipped": [i for i in dict.fromkeys(wanted) if i not in joined],
        "incident": incident_detail(user, incident_id),
    }


@router.post("/incidents/{incident_id}/alerts", response=JoinedOut)
def add_alerts(request, incident_id: Id, data: AlertsIn):
    """Add alerts to an open incident (409 once resolved or closed); those already in an open
    incident are listed in `skipped` (move them instead)."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    incident = queries.access_incident(user, incident_id)
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    alerts = _visible_alerts(user, data.alert_ids)
    joined = _run(lambda: services.add_alerts(incident, alerts, actor=user, reason=data.reason))
    return _joined(user, incident_id, data.alert_ids, joined)


@router.delete("/incidents/{incident_id}/alerts/{alert_id}", response=IncidentDetailOut)
def remove_alert(request, incident_id: Id, alert_id: Id):
    """Take an alert out of an open incident."""

    def act(incident, user):
        services.remove_alert(incident, access_alert(user, alert_id), actor=user)

    return _act(request, incident_id, act)


@router.post("/incidents/{incident_id}/alerts/{alert_id}/move", response=IncidentDetailOut)
def move_alert(request, incident_id: Id, alert_id: Id, data: MoveIn):
    """Move an alert of this incident to another open incident; answers the target."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    source = queries.access_incident(user, incident_id)
    alert = access_alert(user, alert_id)
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    target = _referenced(user, data.target_id, "target_id")
    _run(lambda: services.move_alert(alert, source=source, target=target, actor=user))
    return incident_detail(user, target.id)


@router.post("/incidents/{incident_id}/merge", response=IncidentDetailOut)
def merge(request, incident_id: Id, data: MergeIn):
    """Merge this incident into `into_id`: its alerts move there and it is closed, pointing at
    the survivor (`merged_into_id`). Answers the survivor."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    source = queries.access_incident(user, incident_id)
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    into = _referenced(user, data.into_id, "into_id")
    _run(lambda: services.merge_incidents(source, into=into, actor=user))
    return incident_detail(user, into.id)


# --- lifecycle --------------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/acknowledge", response=IncidentDetailOut)
def acknowledge(request, incident_id: Id):
    """NEW → ACKNOWLEDGED (`noc:ack_alerts`); its unacknowledged alerts are acknowledged too,
    which stops their escalation."""
    return _act(request, incident_id, lambda i, u: services.acknowledge_incident(i, actor=u))


@router.post("/incidents/{incident_id}/assign", response=IncidentDetailOut)
def assign(request, incident_id: Id, data: AssignIn):
    """Set the commander, add or remove responders (`noc:assign_incidents`); NEW or
    ACKNOWLEDGED becomes ASSIGNED. People must see the incident and hold `noc:ack_alerts`
    (`GET …/assignees`)."""
    users = get_user_model().objects

    def act(incident, user):
        require_capability(user, Capability.ASSIGN_INCIDENTS)  # before naming who exists
        commander = None
        if data.commander_id is not None:
            commander = users.filter(tenant_id=user.tenant_id, pk=data.commander_id).first()
            if commander is None:
                raise services.IncidentError("commander_id", "Not found.")
        services.assign_incident(
            incident,
            actor=user,
            commander=commander,
            responders=data.responder_ids,
            remove_responders=data.remove_responder_ids,
        )

    return _act(request, incident_id, act)


@router.post("/incidents/{incident_id}/start", response=IncidentDetailOut)
def start(request, incident_id: Id):
    """Work has started: IN_PROGRESS (`noc:assign_incidents`)."""
    return _act(request, incident_id, lambda i, u: services.start_incident(i, actor=u))


@router.post("/incidents/{incident_id}/resolve", response=IncidentDetailOut)
def resolve(request, incident_id: Id, data: ResolveIn):
    """RESOLVED (`noc:ack_alerts`): its open alerts are resolved with the note, and it takes
    no alert any more."""
    return _act(
        request, incident_id, lambda i, u: services.resolve_incident(i, actor=u, note=data.note)
    )


@router.post("/incidents/{incident_id}/close", response=IncidentDetailOut)
def close(request, incident_id: Id):
    """RESOLVED → CLOSED (`noc:assign_incidents`): frozen, nothing changes it any more."""
    return _act(request, incident_id, lambda i, u: services.close_incident(i, actor=u))


@router.post("/incidents/{incident_id}/reopen", response=IncidentDetailOut)
def reopen(request, incident_id: Id, data: ReopenIn):
    """RESOLVED → NEW (`noc:ack_alerts`); a closed incident never reopens (409)."""
    return _act(
        request,
        incident_id,
        lambda i, u: services.reopen_incident(i, actor=u, reason=data.reason),
    )


@router.post("/incidents/{incident_id}/notes", response={201: IncidentDetailOut})
def add_note(request, incident_id: Id, data: NoteIn):
    """An internal note on the timeline (`noc:assign_incidents`; never on a status page)."""
    detail = _act(request, incident_id, lambda i, u: services.add_note(i, actor=u, body=data.body))
    return Status(201, detail)


@router.patch("/incidents/{incident_id}", response=IncidentDetailOut)
def edit(request, incident_id: Id, data: EditIn):
    """Title, summary, runbook link (http/https), external ticket or work-order reference
    (`noc:assign_incidents`); fields left out stay as they are."""
    values = data.model_dump(exclude_none=True)
    return _act(request, incident_id, lambda i, u: services.edit_incident(i, actor=u, **values))


# --- policy -----------------------------------------------------------------------------------


def policy_out(policy, pii: bool) -> dict:
    return {
        "open_on_critical": policy.open_on_critical,
        "group_threshold": policy.group_threshold,
        "excluded_types": list(policy.excluded_types or []),
        "sla_minutes": policy.sla_minutes,
        "reopen_rule": policy.reopen_rule,
        "reopen_within_minutes": policy.reopen_within_minutes,
        "updated_at": policy.updated_at,
        "updated_by": person_view(policy.updated_by, pii),
    }


@router.get("/incident-policy", response=PolicyOut)
def get_policy(request):
    """The tenant's incident rules and SLA targets (minutes per severity); `noc:configure`."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    pii = has_capability(user, Capability.VIEW_PII)
    return policy_out(services.policy_for(user.tenant_id), pii)


@router.put("/incident-policy", response=PolicyOut)
def put_policy(request, data: PolicyIn):
    """Change the policy (`noc:configure`, audited as config_change). Fields left out stay as
    they are; `sla_minutes` may name some severities only. Thresholds 0–1000, minutes
    1–525600, at most 200 excluded types of ≤ 100 characters. New SLA targets apply to
    incidents opened afterwards."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    values = data.model_dump(exclude_none=True)
    if "sla_minutes" in values:
        values["sla_minutes"] = {str(k): v for k, v in values["sla_minutes"].items()}
    policy = _run(lambda: services.update_policy(user.tenant_id, actor=user, **values))
    return policy_out(policy, has_capability(user, Capability.VIEW_PII))
