"""Who is on the other end of a WebSocket: scope, capabilities and masking, decided in memory.

A connection receives every event of its tenant and must drop, per event, what its user may not
see, without a query per event. The viewer holds the user's scope as ids (`access.scope.Reach`,
derived from the same `Scope` that `Alert.objects.restrict` and the maintenance window list use),
taken at connect and refreshed by the consumer at most once a minute. Rows are masked for users
without `noc:view_pii`, once per event and reused by every connection that needs the same view.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_person_name, mask_text
from watchfloor.access.scope import Reach, ScopeKind, capabilities_of, scope_of
from watchfloor.tenancy.models import COVERS_SITES, ON_SITE, Client

EVERYTHING = "*"

# Connections that would see exactly the same events (same tenant, scope, subscription and PII
# view) share one group number, so a dispatch filters, masks and encodes once per group, not once
# per connection. Numbers are never reused (a cleared table only costs some sharing).
_GROUP_NUMBERS: dict[tuple, int] = {}
_next_group = itertools.count(1)


def _group_number(signature: tuple) -> int:
    number = _GROUP_NUMBERS.get(signature)
    if number is None:
        if len(_GROUP_NUMBERS) > 10_000:
            _GROUP_NUMBERS.clear()
        number = _GROUP_NUMBERS[signature] = next(_next_group)
    return number


@dataclass
class Viewer:
    user_id: int
    tenant_id: int
    kind: ScopeKind
    capabilities: frozenset[str]
    client_ids: frozenset[int]  # clients in scope
    site_ids: frozenset[int]  # sites in scope
    client_codes: dict[str, int]  # code -> id, for the clients in scope
    subscribed: frozenset[int] | None = None  # client ids; None: everything in scope
    group: int = 0  # see _group_number; set by subscribe_to()

    def __post_init__(self):
        self.reach = Reach(self.kind, self.client_ids, self.site_ids)
        self.subscribe_to(self.subscribed)

    def subscribe_to(self, client_ids: frozenset[int] | None) -> None:
        """Receive only these clients' events (None: everything in scope)."""
        self.subscribed = client_ids
        self.group = _group_number(
            (
                self.tenant_id,
                self.kind,
                self.client_ids,
                self.site_ids,
                client_ids,
                self.pii,
            )
        )

    @property
    def pii(self) -> bool:
        return Capability.VIEW_PII.value in self.capabilities

    def can(self, capability: Capability) -> bool:
        return capability.value in self.capabilities

    # --- subscriptions --------------------------------------------------------------------
    def resolve_codes(self, codes: list[str]) -> tuple[set[int], list[str]]:
        """Client ids for codes in scope, and the codes that are not (unknown or not yours)."""
        found, unknown = set(), []
        for code in codes:
            client_id = self.client_codes.get(code)
            if client_id is None:
                unknown.append(code)
            else:
                found.add(client_id)
        return found, unknown

    def subscribed_codes(self) -> list[str] | str:
        if self.subscribed is None:
            return EVERYTHING
        return sorted(code for code, cid in self.client_codes.items() if cid in self.subscribed)

    # --- filtering ------------------------------------------------------------------------
    def sees_alert(self, alert: dict) -> bool:
        return self._sees(ON_SITE, alert["client_id"], alert["site_id"])

    def sees_incident(self, incident: dict) -> bool:
        # an incident sits on its client and site like an alert (Incident.placement is ON_SITE);
        # one spanning several clients has neither, and only the all-clients scope sees it
        return self._sees(ON_SITE, incident["client_id"], incident["site_id"])

    def sees_window(self, window: dict) -> bool:
        return self._sees(COVERS_SITES, window["client_id"], window["site_id"])

    def _sees(self, placement, client_id: int | None, site_id: int | None) -> bool:
        return self.reach.admits(placement, client_id, site_id) and (
            self.subscribed is None or client_id in self.subscribed
        )

    def sees(self, event: dict) -> bool:
        """Whether this user may see the event at all (its alert, window or incident is in
        scope and subscribed to)."""
        if "alert" in event:
            return self.sees_alert(event["alert"])
        if "window" in event:
            return self.sees_window(event["window"])
        if "incident" in event:
            return self.sees_incident(event["incident"])
        return False

    def shown(self, event: dict, cache: dict) -> dict:
        """The event as this user sees it: itself, or masked without `noc:view_pii`. `cache` is
        shared by the connections a batch is dispatched to, so each event is masked once. It
        outlives the dispatch (updates render when they take an event), so an entry holds the
        event it was made for: its id is not reused while the cache lives, and a hit is
        checked to be that very event."""
        if self.pii:
            return event
        hit = cache.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        masked = mask_event(event)
        cache[id(event)] = (event, masked)
        return masked


def mask_event(event: dict) -> dict:
    """A copy of the event without personal data: names masked, emails/phones cut from text."""
    out = {k: v for k, v in event.items() if k != "actor_id"}
    if "alert" in event:
        alert = dict(event["alert"])
        alert["title"] = mask_text(alert.get("title") or "")
        if alert.get("assignee_name"):
            alert["assignee_name"] = mask_person_name(alert["assignee_name"])
        out["alert"] = alert
    if "window" in event:
        window = dict(event["window"])
        for key in ("title", "reason", "matchers"):  # free text (matcher values may be PII)
            if window.get(key):
                window[key] = mask_text(window[key])
        out["window"] = window
    if "incident" in event:
        incident = dict(event["incident"])
        incident["title"] = mask_text(incident.get("title") or "")
        if incident.get("commander_name"):
            incident["commander_name"] = mask_person_name(incident["commander_name"])
        out["incident"] = incident
    return out


def load_viewer(user) -> Viewer:
    """The user's scope now (three small queries). Run it in a thread (it uses the ORM)."""
    scope = scope_of(user)
    reach = scope.reach()
    codes = Client.objects.filter(id__in=reach.client_ids).values_list("code", "id")
    return Viewer(
        user_id=user.id,
        tenant_id=user.tenant_id,
        kind=scope.kind,
        capabilities=frozenset(c.value for c in capabilities_of(user)),
        client_ids=reach.client_ids,
        site_ids=reach.site_ids,
        client_codes=dict(codes),
    )
