"""Sign-in, sign-out and the estate page: audit, scope, PII masking, filters, query count."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import Site, User


def html(response) -> str:
    return response.content.decode()


def test_login_page_serves_a_form(client, db):
    response = client.get("/login/")
    assert response.status_code == 200
    page = html(response)
    assert '<form class="auth__card" method="post" action="/login/">' in page
    assert 'name="username"' in page and 'type="password"' in page
    assert "csrfmiddlewaretoken" in page
    assert "/static/watchfloor/css/app.css" in page
    assert client.get("/static/watchfloor/css/app.css").status_code == 200


def test_wrong_password_shows_an_error_and_audits_without_the_username(client, estate):
    response = client.post(
        "/login/",
        {"username": "acme-admin", "password": "wrong"},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in html(response)
    assert "aria-invalid" not in html(response) or "alert--error" in html(response)
    row = AuditLog.objects.get(action=Action.LOGIN_FAILED)
    assert row.actor is None and row.ip == "203.0.113.9"
    assert "acme-admin" not in json.dumps(row.details) + row.actor_label
    assert "wrong" not in json.dumps(row.details)
    assert not AuditLog.objects.filter(action=Action.LOGIN).exists()
    # the attempt is filed under the account's tenant, by id, for that tenant's auditors
    assert row.tenant == estate.tenant
    assert (row.entity_type, row.entity_id) == ("tenancy.user", str(estate.user("admin").pk))


def test_failed_login_for_an_unknown_name_has_no_tenant(client, estate):
    client.post("/login/", {"username": "nobody-here", "password": "x"})
    row = AuditLog.objects.get(action=Action.LOGIN_FAILED)
    assert row.tenant is None and row.entity_id == ""
    assert "nobody-here" not in json.dumps(row.details)


def test_right_password_redirects_home_and_audits(client, estate):
    response = client.post("/login/", {"username": "acme-admin", "password": "pw-admin"})
    assert response.status_code == 302 and response["Location"] == "/"
    row = AuditLog.objects.get(action=Action.LOGIN)
    assert row.actor == estate.user("admin") and row.tenant == estate.tenant
    assert client.get("/").status_code == 200


def test_login_honours_a_local_next_only(client, estate):
    credentials = {"username": "acme-admin", "password": "pw-admin"}
    local = client.post("/login/?next=/api/docs", {**credentials, "next": "/api/docs"})
    assert local["Location"] == "/api/docs"
    client.logout()
    foreign = client.post("/login/", {**credentials, "next": "https://evil.example/"})
    assert foreign["Location"] == "/"


def test_logout_is_post_only_and_audited(client, estate):
    client.force_login(estate.user("operator"))
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200  # still signed in

    response = client.post("/logout/")

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302
    row = AuditLog.objects.get(action=Action.LOGOUT)
    assert row.actor == estate.user("operator")


def test_home_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"


def test_home_without_noc_view_is_403_and_audited(client, estate):
    nobody = User.objects.create_user("acme-nobody", password="x", tenant=estate.tenant)
    client.force_login(nobody)

    response = client.get("/")

    assert response.status_code == 403
    assert "noc:view" in html(response)
    assert estate.clients[0].name not in html(response)
    row = AuditLog.objects.get(action=Action.ACCESS_DENIED)
    assert row.actor == nobody and row.details["capability"] == "noc:view"


def test_estate_of_an_operator_lists_only_the_assigned_client(client, estate, other_estate):
    client.force_login(estate.user("operator"))
    page = html(client.get("/estate/"))
    mine, theirs = estate.clients
    assert mine.name in page and theirs.name not in page
    for site in estate.sites:
        assert (site.code in page) == (site.client_id == mine.id)
    assert "globex" not in page


def test_estate_of_a_viewer_lists_only_the_assigned_site(client, estate):
    client.force_login(estate.user("viewer"))
    page = html(client.get("/estate/"))
    assert [s.code for s in estate.sites if s.code in page] == [estate.sites[2].code]


def test_header_shows_user_tenant_role_and_a_post_logout(client, estate):
    client.force_login(estate.user("supervisor"))
    page = html(client.get("/estate/"))
    assert "Supervisor Person" in page and "Tenant acme" in page and ">supervisor<" in page
    assert '<form method="post" action="/logout/">' in page
    assert 'href="/api/docs"' in page
    assert 'href="/admin/"' not in page  # not staff

    client.force_login(estate.user("admin"))  # a tenant's admin is not platform staff (#10)
    assert 'href="/admin/"' not in html(client.get("/"))
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert 'href="/admin/"' in html(client.get("/"))


@pytest.fixture
def officer(estate):
    person = User.objects.create_user(
        "valentina",
        password="x",
        tenant=estate.tenant,
        first_name="Valentina",
        last_name="Rossi",
        phone="+1-312-555-0147",
    )
    Site.objects.filter(pk=estate.sites[0].pk).update(officer_in_charge=person)
    return person


def test_officer_names_are_masked_without_noc_view_pii(client, estate, officer):
    client.force_login(estate.user("executive"))  # no noc:view_pii
    page = html(client.get("/estate/"))
    assert "Va***a Ro***i" in page and "+1-***-***-0147" in page
    assert "Valentina" not in page and "555-0147" not in page
    assert "Personal data masked" in page


def test_officer_names_are_shown_with_noc_view_pii(client, estate, officer):
    client.force_login(estate.user("supervisor"))  # has noc:view_pii
    page = html(client.get("/estate/"))
    assert "Valentina Rossi" in page and "+1-312-555-0147" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"city": "Austin"}, ["acme-c1-s1", "acme-c2-s1"]),
        ({"state": "co"}, ["acme-c1-s2", "acme-c2-s2"]),
        ({"client": "acme-c2"}, ["acme-c2-s1", "acme-c2-s2"]),
        ({"client": "acme-c2", "city": "Denver"}, ["acme-c2-s2"]),
        ({"q": "c1-s2"}, ["acme-c1-s2"]),
        ({"city": "Nowhere"}, []),
    ],
)
def test_estate_filters(client, estate, query, expected):
    client.force_login(estate.user("supervisor"))
    page = html(client.get("/estate/", query))
    assert [s.code for s in estate.sites if f">{s.code}<" in page] == expected
    if not expected:
        assert "No site matches these filters" in page


def test_estate_query_count_does_not_grow_with_sites(client, estate):
    client.force_login(estate.user("supervisor"))
    client.get("/estate/")  # warm the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/estate/").status_code == 200
        return len(captured)

    before = queries()
    for i in range(30):
        person = User.objects.create_user(f"officer{i}", tenant=estate.tenant, first_name="O")
        Site.objects.create(
            tenant=estate.tenant,
            client=estate.clients[i % 2],
            code=f"extra-{i}",
            name=f"Extra {i}",
            city=f"City {i}",
            state="TX",
            timezone="America/Chicago",
            officer_in_charge=person,
        )
    after = queries()
    assert after == before <= 12


def test_a_superuser_without_tenant_is_told_why_the_estate_is_empty(client, estate):
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    page = html(client.get("/estate/"))
    assert "Your account belongs to no tenant" in page
    assert estate.clients[0].name not in page


def test_demo_mode_login_page_says_where_the_passwords_are(client, db, settings):
    assert "watchfloor demo" not in html(client.get("/login/"))
    settings.DEMO = True
    assert "watchfloor changepassword admin" in html(client.get("/login/"))
