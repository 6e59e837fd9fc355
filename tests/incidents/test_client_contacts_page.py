"""The client contacts page (`/clients/contacts/`, #11 §5): add a contact (its first code goes
out at once), verify it with the code it read back, pause and resume its updates, remove it —
for `noc:configure` only, within the tenant and the user's scope, names and addresses masked
without `noc:view_pii`, and bad input a 422 naming the field with nothing stored."""

from __future__ import annotations

import re

import pytest

from support_sinks import mailbox
from watchfloor.audit.models import AuditLog
from watchfloor.incidents.models import ClientContact

__all__ = ["mailbox"]

PAGE = "/clients/contacts/"


def _code(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def _add(http, estate, **overrides):
    form = {
        "client": estate.clients[0].id,
        "action": "add",
        "name": "Ann Lee",
        "medium": "email",
        "address": "ann@client-one.example",
        "subscribed": "on",
    }
    return http.post(PAGE, form | overrides)


def test_add_verify_pause_resume_remove(client, estate, mailbox):
    client.force_login(estate.user("admin"))
    first = estate.clients[0]
    response = _add(client, estate)
    assert response.status_code == 302 and response["Location"].endswith(f"?client={first.id}")
    contact = ClientContact.objects.get()
    assert (contact.client_id, contact.verified_at, contact.subscribed) == (first.id, None, True)
    code = _code(mailbox.wait_for(1)[0].body)  # the first code went out with the add

    page = client.get(PAGE, {"client": first.id}).content.decode()
    assert "Ann Lee" in page and "code sent" in page and "Verify" in page

    wrong = "000000" if code != "000000" else "111111"
    response = client.post(
        PAGE, {"client": first.id, "contact": contact.id, "action": "verify", "code": wrong}
    )
    assert response.status_code == 422
    assert "That is not the code" in response.content.decode()
    contact.refresh_from_db()
    assert contact.verified_at is None

    response = client.post(
        PAGE, {"client": first.id, "contact": contact.id, "action": "verify", "code": code}
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.verified_at is not None
    assert "verified" in client.get(PAGE, {"client": first.id}).content.decode()

    client.post(PAGE, {"client": first.id, "contact": contact.id, "action": "unsubscribe"})
    contact.refresh_from_db()
    assert contact.subscribed is False
    assert "paused" in client.get(PAGE, {"client": first.id}).content.decode()
    client.post(PAGE, {"client": first.id, "contact": contact.id, "action": "subscribe"})
    contact.refresh_from_db()
    assert contact.subscribed is True

    client.post(PAGE, {"client": first.id, "contact": contact.id, "action": "delete"})
    assert not ClientContact.objects.exists()
    changes = list(
        AuditLog.objects.filter(details__change__startswith="client_contact.")
        .order_by("id")
        .values_list("details__change", flat=True)
    )
    assert changes[0] == "client_contact.create" and changes[-1] == "client_contact.delete"
    assert "client_contact.verify" in changes and "client_contact.wrong_code" in changes


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"medium": "pigeon"}, "medium"),
        ({"address": "not an address"}, "address"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(client, estate, overrides, field):
    client.force_login(estate.user("admin"))
    response = _add(client, estate, **overrides)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'class="field__error"' in page
    assert not ClientContact.objects.exists()


def test_needs_configure(client, estate):
    for role in ("supervisor", "operator", "viewer"):
        client.force_login(estate.user(role))
        assert client.get(PAGE).status_code == 403
        assert _add(client, estate).status_code == 403
    assert not ClientContact.objects.exists()


def test_another_tenants_client_and_contact_are_404(client, estate, other_estate, mailbox):
    theirs = other_estate.clients[0]
    client.force_login(other_estate.user("admin"))
    _add(client, other_estate)
    their_contact = ClientContact.objects.get()
    client.force_login(estate.user("admin"))
    assert client.get(PAGE, {"client": theirs.id}).status_code == 404
    assert _add(client, estate, client=theirs.id).status_code == 404
    response = client.post(
        PAGE, {"client": estate.clients[0].id, "contact": their_contact.id, "action": "delete"}
    )
    assert response.status_code == 404
    assert ClientContact.objects.filter(pk=their_contact.pk).exists()
    for garbage in ("abc", "9" * 40, "-1"):
        assert client.get(PAGE, {"client": garbage}).status_code == 404


def test_names_and_addresses_masked_without_view_pii(client, estate):
    from django.contrib.auth.models import Permission

    from watchfloor.tenancy.models import User

    client.force_login(estate.user("admin"))  # the admin role holds noc:view_pii
    _add(client, estate, name="Jane Doe", address="jane.doe@client-one.example")
    page = client.get(PAGE, {"client": estate.clients[0].id}).content.decode()
    assert "jane.doe@client-one.example" in page and "Jane Doe" in page

    no_pii = User.objects.create_user(username="acme-nopii", tenant=estate.tenant)
    no_pii.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="access", codename__startswith="noc_"
        ).exclude(codename="noc_view_pii")
    )
    client.force_login(no_pii)
    page = client.get(PAGE, {"client": estate.clients[0].id}).content.decode()
    assert "jane.doe@client-one.example" not in page and "Jane Doe" not in page
    assert "J***e D***e" in page  # masked by the one masking function, not dropped
