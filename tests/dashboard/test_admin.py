"""The Django admin: secrets list/revoke only, the audit log read only, tenants kept apart."""

from __future__ import annotations

import pytest

from watchfloor.access.models import ApiToken, ClientAssignment, IntegrationKey
from watchfloor.access.services import create_api_token, create_integration_key
from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import Site, User


@pytest.fixture
def staff(estate, client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/tenancy/tenant/",
        "/admin/tenancy/client/",
        "/admin/tenancy/site/?q=austin",
        "/admin/tenancy/user/",
        "/admin/access/apitoken/",
        "/admin/access/integrationkey/",
        "/admin/audit/auditlog/",
        "/admin/tenancy/user/add/",
    ],
)
def test_admin_pages_render(staff, client, path):
    assert client.get(path).status_code == 200


def test_audit_log_is_read_only_in_the_admin(staff, client, estate):
    row = AuditLog.objects.first()
    assert client.get("/admin/audit/auditlog/add/").status_code == 403
    change = client.get(f"/admin/audit/auditlog/{row.pk}/change/")
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert (
        client.post(f"/admin/audit/auditlog/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_secrets_cannot_be_added_or_read_only_revoked(staff, client, estate):
    issued = create_api_token(estate.user("operator"), name="ci")
    assert client.get("/admin/access/apitoken/add/").status_code == 403
    assert client.get("/admin/access/integrationkey/add/").status_code == 403
    change = client.get(f"/admin/access/apitoken/{issued.obj.pk}/change/")
    assert issued.plain.encode() not in change.content
    assert issued.obj.secret_hash.encode() in change.content  # the hash, read only
    assert b'name="_save"' not in change.content

    response = client.post(
        "/admin/access/apitoken/",
        {"action": "revoke_selected", "_selected_action": [issued.obj.pk]},
    )

    assert response.status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    assert AuditLog.objects.filter(action=Action.TOKEN_REVOKE, actor=staff).exists()


def test_integration_keys_are_revoked_from_the_admin(staff, client, estate):
    issued = create_integration_key(estate.tenant, actor=staff, name="am", source="alertmanager")
    client.post(
        "/admin/access/integrationkey/",
        {"action": "revoke_selected", "_selected_action": [issued.obj.pk]},
    )
    assert IntegrationKey.objects.get().revoked_at is not None


def test_site_form_refuses_a_client_of_another_tenant(staff, client, estate, other_estate):
    site = estate.sites[0]
    data = {
        "tenant": estate.tenant.pk,
        "client": other_estate.clients[0].pk,
        "code": site.code,
        "name": site.name,
        "active": "on",
        "city": site.city,
        "state": site.state,
        "timezone": "UTC",
    }
    response = client.post(f"/admin/tenancy/site/{site.pk}/change/", data)
    assert response.status_code == 200 and b"Belongs to another tenant" in response.content
    assert Site.objects.get(pk=site.pk).client == site.client


def test_user_scope_inline_refuses_another_tenants_client_and_audits_edits(
    staff, client, estate, other_estate
):
    user = estate.user("operator")
    page = client.get(f"/admin/tenancy/user/{user.pk}/change/")
    assert b"Assigned clients" in page.content

    def post(client_id):
        assignment = ClientAssignment.objects.get(user=user)
        return client.post(
            f"/admin/tenancy/user/{user.pk}/change/",
            {
                "username": user.username,
                "first_name": "Operator",
                "last_name": "Person",
                "email": user.email,
                "is_active": "on",
                "groups": [g.pk for g in user.groups.all()],
                "date_joined_0": "2024-01-01",
                "date_joined_1": "00:00:00",
                "tenant": estate.tenant.pk,
                "phone": "",
                "client_assignments-TOTAL_FORMS": "2",
                "client_assignments-INITIAL_FORMS": "1",
                "client_assignments-0-id": assignment.pk,
                "client_assignments-0-user": user.pk,
                "client_assignments-0-client": assignment.client_id,
                "client_assignments-1-user": user.pk,
                "client_assignments-1-client": client_id,
                "site_assignments-TOTAL_FORMS": "0",
                "site_assignments-INITIAL_FORMS": "0",
            },
        )

    refused = post(other_estate.clients[0].pk)
    assert refused.status_code == 200 and b"another tenant than the user" in refused.content
    assert ClientAssignment.objects.filter(user=user).count() == 1

    accepted = post(estate.clients[1].pk)
    assert accepted.status_code == 302
    assert set(ClientAssignment.objects.filter(user=user).values_list("client", flat=True)) == {
        c.pk for c in estate.clients
    }
    assert ClientAssignment.objects.get(user=user, client=estate.clients[1]).tenant == estate.tenant
    row = AuditLog.objects.filter(action=Action.CONFIG_CHANGE, actor=staff).first()
    assert row.details["change"] == "admin.update" and row.entity_id == str(user.pk)


def test_a_tenant_admin_is_never_platform_staff_and_cannot_enter_the_admin(
    client, estate, other_estate
):
    """#10 bug 12: the demo's tenant admin was a superuser and saw every tenant in /admin/."""
    from django.db import IntegrityError, transaction

    tenant_admin = estate.user("admin")
    assert not tenant_admin.is_superuser and not tenant_admin.is_staff
    client.force_login(tenant_admin)
    for path in ("/admin/", "/admin/tenancy/tenant/", "/admin/tenancy/site/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert other_estate.tenant.name.encode() not in client.get("/admin/login/").content

    for flags in ({"is_superuser": True}, {"is_staff": True}):
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.create_user("boss", tenant=estate.tenant, **flags)
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.filter(pk=tenant_admin.pk).update(**flags)


def test_the_demo_admin_is_a_tenant_admin_not_a_superuser(db):
    from watchfloor.demo import data as demo_data

    demo_data.load_demo()
    admin = User.objects.get(username="admin")
    assert admin.tenant_id is not None
    assert admin.groups.filter(name="admin").exists()
    assert not admin.is_superuser and not admin.is_staff
