"""Client contacts subscribed to status updates (#11 §5): verification by a code sent through
the channel, deliveries only to verified subscribed contacts of the incident's client, really
sent through the local sinks, the client-facing message, and the API (CRUD, verify, isolation,
masking, edge values)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_alerts import trigger
from support_sinks import mailbox, webhook
from watchfloor.access.scope import CapabilityDenied
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import contacts, services
from watchfloor.incidents.models import ClientContact, EventKind, IncidentEvent
from watchfloor.incidents.status_updates import post_status_update
from watchfloor.oncall.models import Delivery, DeliveryKind, DeliveryStatus
from watchfloor.oncall.notify import send_due

__all__ = ["mailbox", "webhook"]

PII = "Guard jane.doe@example.com on +1 555 867 5309 is on it"


def make_incident(estate, key, site_index=0, title="Power cut, call +1 555 867 5309"):
    site = estate.sites[site_index]
    ingest([trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH)], key=key)
    alert = Alert.objects.filter(site=site).latest("id")
    return services.open_incident(
        [alert], actor=estate.user("admin"), origin="manual", title=title, tenant=estate.tenant
    )


def contact(client, address, *, verified=True, subscribed=True, medium="email", name="Ann Lee"):
    from django.utils import timezone

    return ClientContact.objects.create(
        tenant_id=client.tenant_id,
        client=client,
        name=name,
        medium=medium,
        address=address,
        subscribed=subscribed,
        verified_at=timezone.now() if verified else None,
        created_at=timezone.now(),
    )


def _code(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def test_update_goes_only_to_verified_subscribed_contacts_of_that_client(
    estate, key, mailbox, webhook, django_capture_on_commit_callbacks
):
    incident = make_incident(estate, key)  # client 0
    mine = contact(estate.clients[0], "ops@client-one.example")
    hook = contact(estate.clients[0], webhook.url(), medium="webhook", name="Their NOC")
    contact(estate.clients[0], "late@client-one.example", verified=False)
    contact(estate.clients[0], "quiet@client-one.example", subscribed=False)
    contact(estate.clients[1], "ops@client-two.example")  # another client
    with django_capture_on_commit_callbacks(execute=True):
        post_status_update(incident, actor=estate.user("operator"), phase="identified", body=PII)
    rows = Delivery.objects.filter(kind=DeliveryKind.NOTICE)
    assert sorted(d.context["ref"]["client_contact"] for d in rows) == sorted([mine.id, hook.id])
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.NOTIFICATION)
    assert event.details["deliveries"] == 2
    counts = send_due()
    assert counts.get("sent") == 2, counts
    mails = mailbox.wait_for(1)
    assert [m.rcpt_to for m in mails] == [["ops@client-one.example"]]
    mail = mails[0]
    assert "Identified" in mail.subject and "Power cut" in mail.subject
    for text in (mail.subject, mail.body):
        assert "jane.doe@example.com" not in text and "867 5309" not in text
        assert "/status/" not in text  # the status page link is not in it (token not stored)
    assert "is on it" in mail.body
    hooks = webhook.wait_for(1)
    assert "is on it" in str(hooks[0].body) and "jane.doe@example.com" not in str(hooks[0].body)
    assert set(
        Delivery.objects.filter(kind=DeliveryKind.NOTICE).values_list("status", flat=True)
    ) == {DeliveryStatus.SENT}


def test_no_contacts_no_deliveries_no_event(estate, key):
    incident = make_incident(estate, key)
    contact(estate.clients[1], "ops@client-two.example")
    post_status_update(incident, actor=estate.user("admin"), phase="monitoring", body="Watching")
    assert not Delivery.objects.filter(kind=DeliveryKind.NOTICE).exists()
    assert not IncidentEvent.objects.filter(kind=EventKind.NOTIFICATION).exists()


def test_failed_send_is_retried_by_the_machinery(estate, key, webhook):
    incident = make_incident(estate, key)
    contact(estate.clients[0], webhook.url(), medium="webhook")
    post_status_update(incident, actor=estate.user("admin"), phase="identified", body="Feeder")
    webhook.fail_next(1)
    assert send_due().get("pending") == 1
    delivery = Delivery.objects.get(kind=DeliveryKind.NOTICE)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert send_due(now=delivery.next_attempt_at).get("sent") == 1


def test_verification_by_code_sent_to_the_contact(estate, mailbox):
    admin = estate.user("admin")
    added = contacts.add_contact(
        estate.clients[0], actor=admin, name="Ann", medium="email", address="ann@client.example"
    )
    assert added.verified_at is None
    sent = contacts.send_contact_code(added, actor=admin)
    assert sent.status == DeliveryStatus.SENT
    code = _code(mailbox.wait_for(1)[0].body)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ValidationError) as exc:
        contacts.verify_contact(added, actor=admin, code=wrong)
    assert "code" in exc.value.message_dict
    with pytest.raises(contacts.TooSoon):
        contacts.send_contact_code(added, actor=admin)
    verified = contacts.verify_contact(added, actor=admin, code=code)
    assert verified.verified_at is not None
    changes = list(
        AuditLog.objects.filter(entity_id=str(added.id)).values_list("details__change", flat=True)
    )
    assert "client_contact.verify" in changes and "client_contact.wrong_code" in changes
    assert "ann@client.example" not in str(list(AuditLog.objects.values_list("details", flat=True)))
    # a new address must be verified again
    moved = contacts.update_contact(verified, actor=admin, address="ann2@client.example")
    assert moved.verified_at is None


def test_contacts_need_configure(estate):
    with pytest.raises(CapabilityDenied):
        contacts.add_contact(
            estate.clients[0],
            actor=estate.user("operator"),
            name="Ann",
            medium="email",
            address="ann@client.example",
        )


# --- API ------------------------------------------------------------------------------------------
def test_api_crud_verify_and_masking(estate, api, mailbox):
    admin = api(estate.user("admin"))
    base = f"/api/v1/clients/{estate.clients[0].id}/contacts"
    created = admin.post(
        base, {"name": "Ann Lee", "medium": "email", "address": "ann.lee@client.example"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["verified"] is False and body["code_delivery"]["status"] == "sent"
    code = _code(mailbox.wait_for(1)[0].body)
    verified = admin.post(f"{base}/{body['id']}/verify", {"code": code})
    assert verified.status_code == 200 and verified.json()["verified"] is True
    patched = admin.patch(f"{base}/{body['id']}", {"subscribed": False})
    assert patched.status_code == 200 and patched.json()["subscribed"] is False
    with CaptureQueriesContext(connection) as one:
        listed = admin.get(base)
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [body["id"]]
    for n in range(3):  # more contacts, the same number of queries
        contact(estate.clients[0], f"more{n}@client.example")
    with CaptureQueriesContext(connection) as four:
        assert len(admin.get(base).json()) == 4
    assert len(four) == len(one), [q["sql"] for q in four]
    assert admin.delete(f"{base}/{body['id']}").status_code == 204
    assert admin.get(f"{base}/{body['id']}").status_code == 404


def test_api_isolation_and_capability(estate, other_estate, api):
    mine = contact(estate.clients[0], "ops@client-one.example")
    theirs = api(other_estate.user("admin"))
    assert theirs.get(f"/api/v1/clients/{estate.clients[0].id}/contacts").status_code == 404
    path = f"/api/v1/clients/{other_estate.clients[0].id}/contacts/{mine.id}"
    assert theirs.get(path).status_code == 404
    assert theirs.delete(path).status_code == 404
    assert ClientContact.objects.filter(pk=mine.id).exists()
    # the contact of client 0 reached through client 1's path is a 404 too
    wrong = f"/api/v1/clients/{estate.clients[1].id}/contacts/{mine.id}"
    assert api(estate.user("admin")).get(wrong).status_code == 404
    operator = api(estate.user("operator"))
    assert operator.get(f"/api/v1/clients/{estate.clients[0].id}/contacts").status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "medium": "email", "address": "a@b.example"}, "name"),
        ({"name": "x" * 101, "medium": "email", "address": "a@b.example"}, "name"),
        ({"name": "Ann", "medium": "email", "address": "not an email"}, "address"),
        ({"name": "Ann", "medium": "slack", "address": "json://host/x"}, "address"),
        ({"name": "Ann", "medium": "pigeon", "address": "a@b.example"}, "medium"),
        ({"name": "Ann", "medium": "email", "address": "a" * 1001}, "address"),
        ({"name": "Ann", "medium": "email", "address": "a@b.example", "extra": 1}, "extra"),
    ],
)
def test_api_bad_input_names_the_field(estate, api, payload, field):
    response = api(estate.user("admin")).post(
        f"/api/v1/clients/{estate.clients[0].id}/contacts", payload
    )
    assert response.status_code in (400, 422), response.content
    assert field in response.json()["error"]["fields"], response.content
    assert not ClientContact.objects.exists()


def test_every_change_is_audited_without_the_address(estate):
    admin = estate.user("admin")
    added = contacts.add_contact(
        estate.clients[0], actor=admin, name="Ann", medium="email", address="ann@client.example"
    )
    contacts.update_contact(added, actor=admin, subscribed=False)
    contacts.delete_contact(added, actor=admin)
    entries = AuditLog.objects.filter(details__change__startswith="client_contact")
    changes = [(e.details["change"], e.details.get("fields")) for e in entries.order_by("id")]
    assert changes == [
        ("client_contact.create", None),
        ("client_contact.update", ["subscribed"]),
        ("client_contact.delete", None),
    ]
    assert "ann@client.example" not in str(list(AuditLog.objects.values_list("details", flat=True)))


def test_api_patch_edge_values(estate, api):
    c = contact(estate.clients[0], "ops@client-one.example")
    path = f"/api/v1/clients/{estate.clients[0].id}/contacts/{c.id}"
    admin = api(estate.user("admin"))
    assert admin.patch(path, {"name": "x" * 100}).status_code == 200
    too_long = admin.patch(path, {"name": "x" * 101})
    assert too_long.status_code in (400, 422) and "name" in too_long.json()["error"]["fields"]
    moved = admin.patch(path, {"medium": "webhook", "address": "json://127.0.0.1:9/secret-token"})
    assert moved.status_code == 200 and moved.json()["verified"] is False
    # an apprise URL is shown back with its path cut, even to a reader with noc:view_pii
    assert moved.json()["address"] == "json://127.0.0.1:9/s...n"
    assert admin.patch(path, {"subscribed": None}).status_code in (400, 422)
