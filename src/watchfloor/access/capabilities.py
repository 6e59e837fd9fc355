"""The capabilities of DESIGN.md and the built-in roles that hold them.

A capability `noc:ack_alerts` is stored as the Django permission `access.noc_ack_alerts`, so
roles are plain Django groups and the admin can edit them.
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    VIEW = "noc:view"
    VIEW_ALL_CLIENTS = "noc:view_all_clients"
    VIEW_CLIENT = "noc:view_client"
    VIEW_ASSIGNED_SITES = "noc:view_assigned_sites"
    ACK_ALERTS = "noc:ack_alerts"
    ESCALATE = "noc:escalate"
    CONFIGURE = "noc:configure"
    EXPORT = "noc:export"
    MANAGE_MAINTENANCE = "noc:manage_maintenance"
    AUDIT_VIEW = "noc:audit_view"
    ASSIGN_INCIDENTS = "noc:assign_incidents"
    VIEW_PII = "noc:view_pii"
    # one site officer's name, phone and email on an explicit, audited request; lists stay masked
    REVEAL_CONTACT = "noc:reveal_contact"

    @property
    def codename(self) -> str:
        return self.value.replace(":", "_")

    @property
    def perm(self) -> str:
        """The `app_label.codename` form `User.has_perm` takes."""
        return f"access.{self.codename}"

    @classmethod
    def from_codename(cls, codename: str) -> Capability:
        return cls(codename.replace("noc_", "noc:", 1))


CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.VIEW: "See the operations center",
    Capability.VIEW_ALL_CLIENTS: "See every client of the tenant",
    Capability.VIEW_CLIENT: "See the clients assigned to them",
    Capability.VIEW_ASSIGNED_SITES: "See the sites assigned to them",
    Capability.ACK_ALERTS: "Acknowledge alerts",
    Capability.ESCALATE: "Escalate alerts",
    Capability.CONFIGURE: "Configure clients, sites, integrations",
    Capability.EXPORT: "Export reports and data",
    Capability.MANAGE_MAINTENANCE: "Create and cancel maintenance windows",
    Capability.AUDIT_VIEW: "Read the audit log",
    Capability.ASSIGN_INCIDENTS: "Assign alerts and incidents",
    Capability.VIEW_PII: "See personal data unmasked",
    Capability.REVEAL_CONTACT: "Reveal a site officer's contact details (audited)",
}

C = Capability
ROLES: dict[str, frozenset[Capability]] = {
    "viewer": frozenset({C.VIEW, C.VIEW_ASSIGNED_SITES}),
    "operator": frozenset(
        {C.VIEW, C.VIEW_CLIENT, C.ACK_ALERTS, C.ASSIGN_INCIDENTS, C.REVEAL_CONTACT}
    ),
    "supervisor": frozenset(
        {
            C.VIEW,
            C.VIEW_ALL_CLIENTS,
            C.ACK_ALERTS,
            C.ASSIGN_INCIDENTS,
            C.ESCALATE,
            C.MANAGE_MAINTENANCE,
            C.EXPORT,
            C.VIEW_PII,
            C.REVEAL_CONTACT,
        }
    ),
    "executive": frozenset({C.VIEW, C.VIEW_ALL_CLIENTS, C.EXPORT, C.AUDIT_VIEW}),
    "admin": frozenset(Capability),
}
