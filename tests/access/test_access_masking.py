"""PII masking: the documented shapes, nested payloads, free text, and the API per capability."""

from __future__ import annotations

import pytest

from support_api import V1
from watchfloor.access.masking import (
    mask_address,
    mask_email,
    mask_name,
    mask_payload,
    mask_phone,
    mask_text,
    masked_for,
)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("john.doe@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("Valentine.Reyes+noc@corp.example.org", "V***@corp.example.org"),
    ],
)
def test_mask_email(value, masked):
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+1-555-123-1234", "+1-***-***-1234"),
        ("+1 (555) 010-4477", "+1 (***) ***-4477"),
        ("+44 20 7946 0958", "+44 *** *** 0958"),
        ("(555) 123-4567", "(***) ***-4567"),
        ("5551234567", "***4567"),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("valentine", "va***e"),
        ("Valentine Reyes", "Va***e Re***s"),
        ("Jane", "J***e"),
        ("Al", "A***"),
        ("", ""),
    ],
)
def test_mask_name(value, masked):
    assert mask_name(value) == masked


def test_mask_address_keeps_only_a_hint():
    assert mask_address("12 Main Street, Austin") == "12 ***"


def test_free_text_masks_emails_and_phones_but_not_dates_or_ids():
    text = (
        "Officer called +1-555-010-4477 and (555) 123-4567, wrote to ops.lead@example.org. "
        "Ticket 2024-01-15 12:30:00, id 123456789, host 10.0.0.12, v1.2.3"
    )
    assert mask_text(text) == (
        "Officer called +1-***-***-4477 and (***) ***-4567, wrote to o***@example.org. "
        "Ticket 2024-01-15 12:30:00, id 123456789, host 10.0.0.12, v1.2.3"
    )


def test_nested_payload_is_masked_by_key_and_by_text():
    payload = {
        "alertname": "GuardLate",
        "site_name": "HQ North",
        "officer": {
            "name": "Valentine Reyes",
            "email": "v.reyes@corp.example",
            "phone": "+1 555 123 9876",
        },
        "guards": [{"guard_name": "Bob Stone", "mobile": "+1-555-222-3333"}],
        "contact": ["Ann Lee", "Tom Kay"],
        "Email": "boss@corp.example",
        "reporter_email": "rep@corp.example",
        "customerPhone": "5551234567",
        "address": "12 Main Street",
        "note": "reach me at x.y@z.org or +1-555-999-0000",
        "count": 3,
        "ok": True,
        "missing": None,
    }
    assert mask_payload(payload) == {
        "alertname": "GuardLate",
        "site_name": "HQ North",
        "officer": {
            "name": "Va***e Re***s",
            "email": "v***@corp.example",
            "phone": "+1 *** *** 9876",
        },
        "guards": [{"guard_name": "B***b St***e", "mobile": "+1-***-***-3333"}],
        "contact": ["A***n L***e", "T***m K***y"],
        "Email": "b***@corp.example",
        "reporter_email": "r***@corp.example",
        "customerPhone": "***4567",
        "address": "12 ***",
        "note": "reach me at x***@z.org or +1-***-***-0000",
        "count": 3,
        "ok": True,
        "missing": None,
    }
    # the input is not changed in place
    assert payload["officer"]["name"] == "Valentine Reyes"


def test_masked_for_depends_on_view_pii(estate):
    payload = {"email": "someone@example.com"}
    assert masked_for(estate.user("supervisor"), payload) == payload
    assert masked_for(estate.user("admin"), payload) == payload
    for role in ("viewer", "operator", "executive"):
        assert masked_for(estate.user(role), payload) == {"email": "s***@example.com"}


# --- through the API ----------------------------------------------------------------------


@pytest.fixture
def people(estate):
    """Client c2 owned by, and site sites[2] in charge of, a person with a real-looking name."""
    from watchfloor.tenancy.models import User

    person = User.objects.create_user(
        username="valentine.reyes@corp.example",
        tenant=estate.tenant,
        first_name="Valentine",
        last_name="Reyes",
        email="valentine.reyes@corp.example",
    )
    client, site = estate.clients[1], estate.sites[2]
    client.owner = person
    client.save(update_fields=["owner"])
    site.officer_in_charge = person
    site.save(update_fields=["officer_in_charge"])
    return person, client, site


# sites[2] / client c2 are visible to all of these (the viewer is assigned sites[2])
@pytest.mark.parametrize(
    ("role", "plain"),
    [
        ("viewer", False),
        ("executive", False),
        ("supervisor", True),
        ("admin", True),
    ],
)
def test_api_masks_owner_and_officer_without_view_pii(estate, api, people, role, plain):
    person, client, site = people
    caller = api(estate.user(role))
    owners = [
        caller.get(f"{V1}/clients/{client.id}").json()["owner"],
        next(c for c in caller.get(f"{V1}/clients").json()["items"] if c["id"] == client.id)[
            "owner"
        ],
    ]
    officers = [
        caller.get(f"{V1}/sites/{site.id}").json()["officer_in_charge"],
        next(s for s in caller.get(f"{V1}/sites").json()["items"] if s["id"] == site.id)[
            "officer_in_charge"
        ],
    ]
    for shown in owners + officers:
        assert shown["id"] == person.id
        if plain:
            assert shown["full_name"] == "Valentine Reyes"
            assert shown["username"] == "valentine.reyes@corp.example"
        else:
            assert shown["full_name"] == "Va***e Re***s"
            assert shown["username"] == "v***@corp.example"


def test_masked_response_contains_no_trace_of_the_name(estate, api, people):
    caller = api(estate.user("viewer"))
    for path in ("/clients", "/sites", f"/sites/{people[2].id}", f"/clients/{people[1].id}"):
        body = caller.get(V1 + path).content.decode()
        assert "Valentine" not in body and "Reyes" not in body and "valentine" not in body


def test_write_responses_are_masked_too(estate, api, people):
    """A configurer without noc:view_pii gets masked names back from its own writes."""
    from django.contrib.auth.models import Permission

    from watchfloor.access.services import set_roles

    configurer = estate.user("operator")
    set_roles(configurer, ["executive"])  # every client, no noc:view_pii
    configurer.user_permissions.add(Permission.objects.get(codename="noc_configure"))
    response = api(configurer).post(
        f"{V1}/clients", {"code": "masked-1", "name": "M", "owner_id": people[0].id}
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"]["full_name"] == "Va***e Re***s"


# --- one person-name masking, everywhere a person is named ------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "username", "masked"),
    [
        ("Valentine", "Reyes", "vreyes", "Va***e Re***s"),
        ("", "", "jane.doe@example.com", "j***@example.com"),  # an email as username
        ("", "", "kowalski", "ko***i"),
    ],
)
def test_every_path_that_names_a_person_masks_the_name_the_same_way(
    estate, first, last, username, masked
):
    """#10 structure: four copies of person-name masking became one (`mask_person_name`); the
    overview's menus masked an email username as a name ("ja***m") while the feed masked it as
    an email. Every reader without noc:view_pii now sees the same masked name."""
    from watchfloor.access.masking import mask_person_name, person_label, person_view
    from watchfloor.alerts import overview_queries
    from watchfloor.alerts.broadcast import alert_payload
    from watchfloor.alerts.models import Alert
    from watchfloor.dashboard.queries import Filters, estate_page, overview_choices
    from watchfloor.oncall.messages import _person as message_person
    from watchfloor.realtime.viewer import mask_event
    from watchfloor.tenancy.models import User

    person = User.objects.create_user(
        username, tenant=estate.tenant, first_name=first, last_name=last
    )
    person.groups.add(*estate.user("operator").groups.all())
    site = estate.sites[0]
    site.officer_in_charge = person
    site.save(update_fields=["officer_in_charge"])
    reader = estate.user("executive")  # every client, no noc:view_pii
    alert = _open_alert(estate, site)
    Alert.objects.filter(pk=alert.pk).update(assignee=person)
    alert.refresh_from_db()
    unmasked = {**alert_payload(alert), "assignee_name": (f"{first} {last}".strip() or username)}
    filters = overview_queries.OverviewFilters()
    view = person_view(person, False)

    shown = {
        "mask_person_name": mask_person_name(f"{first} {last}".strip() or username),
        "person_label": person_label(person, False),
        "person_view": view["full_name"] or view["username"],
        "feed": overview_queries.feed(reader, filters)[0]["assignee_name"],
        "map": next(
            s["officer"]
            for s in overview_queries.site_health(reader, filters)["sites"]
            if s["id"] == site.id
        ),
        "websocket": mask_event({"type": "alert.updated", "alert": unmasked})["alert"][
            "assignee_name"
        ],
        "estate page": estate_page(reader, Filters()).clients[0].sites[0].officer.name,
        "overview menus": {o["id"]: o["name"] for o in overview_choices(reader)["officers"]}[
            person.id
        ],
        "notifications": message_person(person, False),
    }
    assert shown == dict.fromkeys(shown, masked)


def _open_alert(estate, site):
    from django.utils import timezone

    from watchfloor.alerts.models import Alert, Severity

    now = timezone.now()
    return Alert.objects.create(
        tenant=estate.tenant,
        client=site.client,
        site=site,
        source="native",
        type="DEVICE_OFFLINE",
        severity=Severity.HIGH,
        title="x",
        fingerprint="fp-names",
        content_hash="x",
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )
