"""A client's status page (#11 §5): a revocable secret link, no sign-in.

`/status/<token>/` shows that client's open incidents and those resolved or closed in the last
`RECENT_DAYS` days, each with its client status updates — and nothing else: only incidents
placed on that client (an incident spanning several clients has no client and never shows),
the title masked, the severity, the status, the site's name (never another client's), and the
status updates (masked when stored). No internal notes, no timeline, no alert details, no people.

Links are created and revoked with `noc:configure` (audited); the token is shown once and kept
as its SHA-256 digest (`access.secrets`, as API tokens); an unknown and a revoked token are the
same 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for
from watchfloor.access.scope import require_capability, scope_of
from watchfloor.access.secrets import generate_secret, hash_secret
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    Incident,
    IncidentStatusUpdate,
    StatusPageLink,
)
from watchfloor.tenancy.models import Client

RECENT_DAYS = 7
MAX_INCIDENTS = 100
LABEL_MAX = 100


@dataclass(frozen=True)
class Issued:
    link: StatusPageLink
    plain: str  # shown once


def _audit(link: StatusPageLink, *, actor, change: str) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=link.tenant_id,
        entity=link,
        details={"change": change, "client_id": link.client_id, "prefix": link.prefix},
    )


@transaction.atomic
def create_status_link(client: Client, *, actor, label: str = "") -> Issued:
    """A new secret link to `client`'s status page (the caller checked the client is in the
    actor's scope)."""
    require_capability(actor, Capability.CONFIGURE)
    if client.tenant_id != actor.tenant_id:
        raise Http404("Not found.")
    secret = generate_secret("s")
    link = StatusPageLink.objects.create(
        tenant_id=client.tenant_id,
        client=client,
        label=(label or "").strip()[:LABEL_MAX],
        prefix=secret.prefix,
        token_hash=secret.digest,
        created_at=timezone.now(),
        created_by=actor,
    )
    _audit(link, actor=actor, change="status_page.create")
    return Issued(link, secret.plain)


@transaction.atomic
def revoke_status_link(link: StatusPageLink, *, actor) -> StatusPageLink:
    require_capability(actor, Capability.CONFIGURE)
    link = StatusPageLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.revoked_by = actor
        link.save(update_fields=["revoked_at", "revoked_by"])
        _audit(link, actor=actor, change="status_page.revoke")
    return link


def links_visible(user):
    """The status links of the clients the user sees."""
    return StatusPageLink.objects.restrict(scope_of(user)).select_related("client", "created_by")


def access_status_link(user, link_id) -> StatusPageLink:
    try:
        return links_visible(user).get(pk=link_id)
    except (StatusPageLink.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


# --- the public page ---------------------------------------------------------------------------
@dataclass
class PublicUpdate:
    phase: str
    body: str
    posted_at: datetime


@dataclass
class PublicIncident:
    number: int
    title: str
    severity: str
    status: str
    site: str
    opened_at: datetime
    resolved_at: datetime | None
    open: bool
    updates: list[PublicUpdate] = field(default_factory=list)


@dataclass
class StatusPage:
    client_name: str
    open: list[PublicIncident]
    recent: list[PublicIncident]
    generated_at: datetime


def link_for_token(token: str) -> StatusPageLink | None:
    """The live link a token opens, or None (unknown, revoked, or not a token at all)."""
    if not token or len(token) > 200:
        return None
    return (
        StatusPageLink.objects.select_related("client")
        .filter(token_hash=hash_secret(token), revoked_at__isnull=True, client__active=True)
        .first()
    )


def status_page(link: StatusPageLink, *, now: datetime | None = None) -> StatusPage:
    """What the client may read: three queries whatever the number of incidents."""
    now = now or timezone.now()
    since = now - timedelta(days=RECENT_DAYS)
    incidents = list(
        Incident.objects.filter(tenant_id=link.tenant_id, client_id=link.client_id)
        .filter(Q(status__in=OPEN_INCIDENT_STATUSES) | Q(resolved_at__gte=since))
        .exclude(merged_into__isnull=False)
        .select_related("site")
        .only("id", "title", "severity", "status", "site__name", "opened_at", "resolved_at")
        .order_by("-opened_at", "-id")[:MAX_INCIDENTS]
    )
    updates: dict[int, list[PublicUpdate]] = {}
    for u in IncidentStatusUpdate.objects.filter(
        incident_id__in=[i.id for i in incidents]
    ).order_by("-posted_at", "-id"):
        updates.setdefault(u.incident_id, []).append(
            # masked when stored; masked again here so an older row cannot slip through
            PublicUpdate(u.phase, masked_for(None, u.body, can_view_pii=False), u.posted_at)
        )
    rows = [
        PublicIncident(
            number=i.id,
            title=masked_for(None, i.title, can_view_pii=False),
            severity=i.severity,
            status=i.status,
            site=i.site.name if i.site_id else "",
            opened_at=i.opened_at,
            resolved_at=i.resolved_at,
            open=i.status in OPEN_INCIDENT_STATUSES,
            updates=updates.get(i.id, []),
        )
        for i in incidents
    ]
    return StatusPage(
        client_name=link.client.name,
        open=[r for r in rows if r.open],
        recent=[r for r in rows if not r.open],
        generated_at=now,
    )
