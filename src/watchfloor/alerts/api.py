"""Alerts: list, counts, detail with its correlation group, and the lifecycle actions.

Ingestion (POST /alerts and the monitoring integrations) lives in alerts/integrations/.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, masked_for, person_label, person_view
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.alerts import services
from watchfloor.alerts.listing import DEFAULT_SORT, InvalidListQuery
from watchfloor.alerts.models import Alert
from watchfloor.alerts.queries import (
    AlertFilters,
    access_alert,
    alert_comments,
    alert_counts,
    alert_page,
    assignable_users,
    correlation_group,
)
from watchfloor.alerts.schemas import (
    AlertDetailOut,
    AlertListQuery,
    AlertPage,
    AssigneesOut,
    AssignIn,
    BulkIn,
    BulkOut,
    BulkResolveIn,
    CommentIn,
    CommentOut,
    CountsOut,
    CountsQuery,
    NoteIn,
    ResolveIn,
    csv_values,
    id_values,
)
from watchfloor.api.errors import ApiError
from watchfloor.api.rendering import built_response
from watchfloor.api.schemas import Id
from watchfloor.oncall.escalation import escalate_now, reopen

router = Router(tags=["alerts"])
# the most people an assign menu lists (the query is one statement whatever the tenant's size)
ASSIGNEES_LIMIT = 500


def _seconds(value):
    return value.total_seconds() if value is not None else None


def alert_out(alert: Alert, pii: bool) -> dict:
    """An alert as a list row shows it: from an `Alert` or a `list_rows.PlainRow` (the list's
    rows, which carry the same attributes)."""
    client, site = alert.client, alert.site
    return {
        "id": alert.id,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title if pii else mask_text(alert.title),
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "client": client and {"id": client.id, "code": client.code, "name": client.name},
        "site": site
        and {
            "id": site.id,
            "code": site.code,
            "name": site.name,
            "city": site.city,
            "state": site.state,
        },
        "entity_type": alert.entity_type,
        "entity_id": alert.entity_id,
        "occurrence_count": alert.occurrence_count,
        "suppressed_count": alert.suppressed_count,
        "suppression_reason": alert.suppression_reason,
        "maintenance_window_id": alert.maintenance_window_id,
        "correlation_id": alert.correlation_id,
        "correlation_reason": alert.correlation_reason,
        "parent_id": alert.parent_id,
        "first_seen_at": alert.first_seen_at,
        "last_seen_at": alert.last_seen_at,
        "started_at": alert.started_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": person_view(alert.acknowledged_by, pii),
        "assignee": person_view(alert.assignee, pii),
        "assigned_at": alert.assigned_at,
        "escalation_level": alert.escalation_level,
        "escalated_at": alert.escalated_at,
        "resolved_at": alert.resolved_at,
        "resolved_by": person_view(alert.resolved_by, pii),
        "time_to_acknowledge_seconds": _seconds(alert.time_to_acknowledge),
        "time_to_resolve_seconds": _seconds(alert.time_to_resolve),
    }


def alert_detail(user, alert: Alert) -> dict:
    pii = has_capability(user, Capability.VIEW_PII)
    out = alert_out(alert, pii)
    out.update(
        {
            "description": masked_for(user, alert.description, can_view_pii=pii),
            "labels": masked_for(user, alert.labels, can_view_pii=pii),
            "annotations": masked_for(user, alert.annotations, can_view_pii=pii),
            "source_url": alert.source_url,
            "runbook_url": alert.runbook_url,
            "resolution_note": masked_for(user, alert.resolution_note, can_view_pii=pii),
            "escalated_by": person_view(alert.escalated_by, pii),
            "assigned_by": person_view(alert.assigned_by, pii),
            "correlation_group": [alert_out(a, pii) for a in correlation_group(user, alert)],
        }
    )
    return out


def _filters(q: AlertListQuery | CountsQuery) -> AlertFilters:
    get = lambda name, default=None: getattr(q, name, default)  # noqa: E731
    return AlertFilters(
        status=csv_values(get("status")),
        severity=csv_values(get("severity")),
        type=csv_values(get("type"), upper=False),
        client=id_values(q.client),
        site=id_values(q.site),
        city=q.city or "",
        state=q.state or "",
        officer=q.officer,
        since=get("since"),
        until=get("until"),
        q=get("q") or "",
        maintenance_window=get("maintenance_window"),
        correlation_id=str(get("correlation_id") or ""),
        active=get("active"),
    )


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", "The request is not valid.", {field: message})


@router.get("/alerts", response=AlertPage)
def list_alerts(request, filters: Query[AlertListQuery]):
    """First seen, newest first (`DEFAULT_SORT`), unless `sort` says otherwise. `since`/`until`
    bound the time the alert was last seen. `prev_cursor`/`next_cursor` page backwards and
    forwards."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    try:
        page = alert_page(
            user,
            filters.to_filters(),
            sort=filters.sort or DEFAULT_SORT,
            cursor=filters.cursor,
            limit=filters.limit,
            plain=True,  # alert_out reads only what a row shows
        )
    except InvalidListQuery as exc:
        raise _invalid(exc.field, str(exc)) from None
    pii = has_capability(user, Capability.VIEW_PII)
    # built to AlertPage (tests/api/test_alert_list_schema.py holds it there): not validated again
    items = [alert_out(a, pii) for a in page.items]
    return built_response(
        {"items": items, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor},
        rows=items,
    )


def _bulk_out(outcome: services.BulkOutcome) -> dict:
    return {
        "done": outcome.done,
        "skipped": [{"id": i, "reason": r} for i, r in outcome.skipped.items()],
    }


@router.post("/alerts/bulk/acknowledge", response=BulkOut)
def bulk_acknowledge(request, data: BulkIn):
    """Acknowledge many alerts at once (one transaction); ids that are not in the caller's scope
    or cannot be acknowledged now are listed in `skipped` with the reason."""
    require_capability(request.auth, Capability.ACK_ALERTS)
    return _bulk_out(services.bulk_acknowledge(data.ids, actor=request.auth))


@router.post("/alerts/bulk/resolve", response=BulkOut)
def bulk_resolve(request, data: BulkResolveIn):
    """Resolve many alerts at once with one note; `skipped` as for acknowledge."""
    require_capability(request.auth, Capability.ACK_ALERTS)
    return _bulk_out(services.bulk_resolve(data.ids, actor=request.auth, note=data.note))


@router.get("/alerts/counts", response=CountsOut)
def count_alerts(request, filters: Query[CountsQuery]):
    """Active alerts by status and open alerts by severity, in the caller's scope."""
    require_capability(request.auth, Capability.VIEW)
    return alert_counts(request.auth, _filters(filters))


@router.get("/alerts/{alert_id}", response=AlertDetailOut)
def get_alert(request, alert_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return alert_detail(request.auth, access_alert(request.auth, alert_id))


@router.get("/alerts/{alert_id}/assignees", response=AssigneesOut)
def list_assignees(request, alert_id: Id):
    """Who the alert may be assigned to: the active users of the tenant who can see it and
    acknowledge alerts, exactly whom `POST …/assign` accepts; names masked without
    noc:view_pii. At most 500, in name order."""
    user = request.auth
    require_capability(user, Capability.ASSIGN_INCIDENTS)
    alert = access_alert(user, alert_id)
    pii = has_capability(user, Capability.VIEW_PII)
    people = assignable_users(alert)[:ASSIGNEES_LIMIT]
    return {
        "alert_id": alert.id,
        "assignable": alert.status in services.ASSIGNABLE,
        "assignees": [{"id": p.id, "name": person_label(p, pii)} for p in people],
    }


def _act(request, alert_id: Id, action):
    user = request.auth
    require_capability(user, Capability.VIEW)
    alert = access_alert(user, alert_id)
    try:
        action(alert, user)
    except services.IllegalTransition as exc:
        raise ApiError(409, "illegal_transition", str(exc), {"status": exc.status}) from None
    except services.StillFiring as exc:
        raise ApiError(
            409, "fingerprint_active", str(exc), {"active_alert_id": str(exc.active_id or "")}
        ) from None
    return alert_detail(user, access_alert(user, alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response=AlertDetailOut)
def acknowledge(request, alert_id: Id):
    return _act(request, alert_id, lambda a, u: services.acknowledge_alert(a, actor=u))


@router.post("/alerts/{alert_id}/assign", response=AlertDetailOut)
def assign(request, alert_id: Id, data: AssignIn):
    user = request.auth
    assignee = (
        get_user_model().objects.filter(tenant_id=user.tenant_id, pk=data.assignee_id).first()
    )

    def act(alert, actor):
        try:
            services.assign_alert(alert, actor=actor, assignee=assignee, note=data.note)
        except services.InvalidAssignee as exc:
            raise ApiError(
                422, "validation_error", "The request is not valid.", {"assignee_id": str(exc)}
            ) from None

    return _act(request, alert_id, act)


@router.post("/alerts/{alert_id}/escalate", response=AlertDetailOut)
def escalate(request, alert_id: Id, data: NoteIn | None = None):
    note = data.note if data else ""
    return _act(request, alert_id, lambda a, u: escalate_now(a, actor=u, note=note))


@router.post("/alerts/{alert_id}/resolve", response=AlertDetailOut)
def resolve(request, alert_id: Id, data: ResolveIn):
    return _act(request, alert_id, lambda a, u: services.resolve_alert(a, actor=u, note=data.note))


@router.post("/alerts/{alert_id}/reopen", response=AlertDetailOut)
def reopen_resolved(request, alert_id: Id, data: NoteIn | None = None):
    """A resolved alert back to NEW; its escalation starts again. 409 when it is not resolved,
    or when another alert with the same fingerprint is active (`active_alert_id` names it)."""
    note = data.note if data else ""
    return _act(request, alert_id, lambda a, u: reopen(a, actor=u, note=note))


def comment_out(comment, pii: bool) -> dict:
    return {
        "id": comment.id,
        "alert_id": comment.alert_id,
        "author": person_view(comment.author, pii),
        "body": masked_for(None, comment.body, can_view_pii=pii),
        "created_at": comment.created_at,
    }


@router.get("/alerts/{alert_id}/comments", response=list[CommentOut])
def list_comments(request, alert_id: Id):
    """Oldest first; bodies masked without `noc:view_pii`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    alert = access_alert(user, alert_id)
    pii = has_capability(user, Capability.VIEW_PII)
    return [comment_out(c, pii) for c in alert_comments(alert)]


@router.post("/alerts/{alert_id}/comments", response={201: CommentOut})
def add_comment(request, alert_id: Id, data: CommentIn):
    """A comment that changes nothing else (any status); needs `noc:ack_alerts`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    alert = access_alert(user, alert_id)
    try:
        comment = services.comment_on_alert(alert, actor=user, body=data.body)
    except ValueError as exc:
        fields = {"body": str(exc)}
        raise ApiError(422, "validation_error", "The request is not valid.", fields) from None
    return Status(201, comment_out(comment, has_capability(user, Capability.VIEW_PII)))
