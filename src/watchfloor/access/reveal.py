"""Revealing a site officer's contact details: one person, on an explicit request, audited.

Lists and pages show the officer in charge masked for users without `noc:view_pii`; an
operator who must call the officer now asks for that one site's officer (`noc:reveal_contact`).
The reveal is written to the audit log as a view of sensitive data about the site, naming the
officer by id only.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import access_site, require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record


@dataclass(frozen=True)
class OfficerContact:
    user_id: int
    name: str
    phone: str
    email: str


@dataclass(frozen=True)
class Revealed:
    site_id: int
    officer: OfficerContact | None  # None: the site has no officer in charge


def reveal_officer_contact(site_id, *, actor, via: str = "api") -> Revealed:
    """The officer in charge of a site in the actor's scope, unmasked, and the audit entry.

    403 (`CapabilityDenied`) without `noc:reveal_contact`, checked first so that nothing is
    learnt about the site; the same 404 for a site that is missing, another tenant's or out of
    scope. `via` says where it was asked (`api`, `alert_page`, `estate_page`) for the audit.
    """
    require_capability(actor, Capability.REVEAL_CONTACT)
    site = access_site(actor, site_id)
    officer = site.officer_in_charge
    if officer is None:
        return Revealed(site_id=site.id, officer=None)
    record(
        Action.VIEW_SENSITIVE,
        actor=actor,
        tenant=site.tenant_id,
        entity=site,
        details={"what": "officer_contact", "officer_id": officer.id, "via": via[:30]},
    )
    return Revealed(
        site_id=site.id,
        officer=OfficerContact(
            user_id=officer.id,
            name=officer.get_full_name() or officer.get_username(),
            phone=officer.phone,
            email=officer.email,
        ),
    )
