"""Client status updates (#11 §5): a responder tells the client where an incident stands
("investigating", "identified", "monitoring", "resolved" and a text).

Decision: the text is masked (emails, phone numbers) BEFORE it is stored, through the one masking
function: an update is written for the client, is shown on a page without sign-in and would be
sent to the client's contacts, so no reader, whatever their capabilities, should find personal
data in it. Posting needs `noc:assign_incidents` (the capability that works an incident) and an
incident that is not closed; the client's verified, subscribed contacts get it through the
notification channels (incidents.contacts.notify_contacts); it is audited
(`incident.status_update`, id, phase and length only), put on the timeline (STATUS_UPDATE,
through `services.record_event`) and published.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for
from watchfloor.access.scope import require_capability
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem
from watchfloor.incidents import services
from watchfloor.incidents.contacts import notify_contacts
from watchfloor.incidents.models import (
    EventKind,
    Incident,
    IncidentStatus,
    IncidentStatusUpdate,
    UpdatePhase,
)

BODY_MAX = 2000
AUDIT_ACTION = "incident.status_update"


@transaction.atomic
def post_status_update(incident: Incident, *, actor, phase: str, body: str) -> IncidentStatusUpdate:
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    if phase not in UpdatePhase.values:
        raise services.IncidentError("phase", f"One of {', '.join(UpdatePhase.values)}.")
    body = (body or "").strip() if isinstance(body, str) else ""
    if not body:
        raise services.IncidentError("body", "Write the update.")
    if len(body) > BODY_MAX:
        raise services.IncidentError("body", f"At most {BODY_MAX} characters.")
    if problem := text_problem(body):
        raise services.IncidentError("body", problem)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status == IncidentStatus.CLOSED:
        raise services.IllegalTransition("post a status update on", incident.status)
    clean = masked_for(None, body, can_view_pii=False)
    update = IncidentStatusUpdate.objects.create(
        tenant_id=incident.tenant_id,
        incident=incident,
        phase=phase,
        body=clean,
        posted_at=timezone.now(),
        posted_by=actor,
    )
    record(
        AUDIT_ACTION,
        actor=actor,
        tenant=incident.tenant_id,
        entity=incident,
        details={"update_id": update.id, "phase": phase, "length": len(clean)},
    )
    services.record_event(
        incident,
        EventKind.STATUS_UPDATE,
        actor=actor,
        body=clean,
        details={"update_id": update.id, "phase": phase},
    )
    # the client's verified, subscribed contacts: deliveries written here, sent after commit
    notify_contacts(incident, update, actor=actor)
    return update
