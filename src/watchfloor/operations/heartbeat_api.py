"""Heartbeats: list, create, read, change, pause/resume, delete (`noc:configure`, scoped by
client and site). The ping itself is `operations/views.py` (an integration key, not a token)."""

from __future__ import annotations

from datetime import timedelta

from ninja import Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.operations import heartbeat_queries as queries
from watchfloor.operations import heartbeats as services
from watchfloor.operations.heartbeat_schemas import HeartbeatIn, HeartbeatOut, HeartbeatPatch

router = Router(tags=["heartbeats"])


def heartbeat_out(hb, pii: bool) -> dict:
    """A heartbeat as `user` may see it: its description is free text, masked without
    noc:view_pii."""
    client, site = hb.client, hb.site
    return {
        "id": hb.id,
        "name": hb.name,
        "description": hb.description if pii else mask_text(hb.description),
        "client": {"id": client.id, "code": client.code, "name": client.name},
        "site": site
        and {
            "id": site.id,
            "code": site.code,
            "name": site.name,
            "city": site.city,
            "state": site.state,
        },
        "period_seconds": int(hb.period.total_seconds()),
        "grace_seconds": int(hb.grace.total_seconds()),
        "status": hb.status,
        "last_seen_at": hb.last_seen_at,
        "late_since": hb.late_since,
        "ping_url": f"/api/v1/heartbeats/{hb.name}/ping",
    }


def _pii(user) -> bool:
    return has_capability(user, Capability.VIEW_PII)


def _run(call):
    try:
        return call()
    except services.HeartbeatInvalid as exc:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {exc.field: str(exc)}
        ) from None


@router.get("/heartbeats", response=list[HeartbeatOut])
def list_heartbeats(request):
    """Every heartbeat the caller may see (at most 500, by name) with its status and last ping;
    `noc:configure`."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    return [
        heartbeat_out(h, _pii(user)) for h in queries.heartbeats_for(user)[: queries.LIST_LIMIT]
    ]


@router.post("/heartbeats", response={201: HeartbeatOut})
def create_heartbeat(request, data: HeartbeatIn):
    """A new heartbeat, WAITING for its first ping (`noc:configure`, audited). `name`: a-z, 0-9,
    - and _ (unique in the tenant, it is the ping URL's); period 10 s – 7 days, grace 0 – 7 days."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    hb = _run(
        lambda: services.create_heartbeat(
            actor=user,
            name=data.name,
            description=data.description,
            client_id=data.client,
            site_id=data.site,
            period=timedelta(seconds=data.period_seconds),
            grace=timedelta(seconds=data.grace_seconds),
        )
    )
    return Status(201, heartbeat_out(queries.access_heartbeat(user, hb.pk), _pii(user)))


@router.get("/heartbeats/{heartbeat_id}", response=HeartbeatOut)
def get_heartbeat(request, heartbeat_id: Id):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    return heartbeat_out(queries.access_heartbeat(user, heartbeat_id), _pii(user))


@router.patch("/heartbeats/{heartbeat_id}", response=HeartbeatOut)
def patch_heartbeat(request, heartbeat_id: Id, data: HeartbeatPatch):
    """Change, pause (`paused: true`: its open alert resolves) or resume (`noc:configure`)."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    hb = queries.access_heartbeat(user, heartbeat_id)
    values = data.model_dump(exclude_unset=True)
    changes: dict = {}
    for name in ("name", "description", "paused"):
        if values.get(name) is not None:
            changes[name] = values[name]
    if "site" in values:
        changes["site_id"] = values["site"]
    if values.get("period_seconds") is not None:
        changes["period"] = timedelta(seconds=values["period_seconds"])
    if values.get("grace_seconds") is not None:
        changes["grace"] = timedelta(seconds=values["grace_seconds"])
    _run(lambda: services.update_heartbeat(hb, actor=user, **changes))
    return heartbeat_out(queries.access_heartbeat(user, heartbeat_id), _pii(user))


@router.delete("/heartbeats/{heartbeat_id}", response={204: None})
def delete_heartbeat(request, heartbeat_id: Id):
    """Delete it (`noc:configure`, audited); its open alert resolves."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    hb = queries.access_heartbeat(user, heartbeat_id)
    services.delete_heartbeat(hb, actor=user)
    return Status(204, None)
