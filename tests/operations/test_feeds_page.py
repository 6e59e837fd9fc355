"""The Operations page: scoped, masked, overdue/silent rows marked, filters, nav link."""

from __future__ import annotations

import pytest
from test_feeds_read import seeded  # noqa: F401 (the fixture)

PAGE = "/operations/"


@pytest.mark.parametrize("kind", ["tickets", "work_orders", "devices", "attendance"])
def test_each_kind_lists_in_scope_and_masked(seeded, client, kind):  # noqa: F811
    client.force_login(seeded.user("operator"))  # first client, no noc:view_pii
    response = client.get(PAGE, {"kind": kind})
    assert response.status_code == 200
    html = response.content.decode()
    assert "acme-c1" in html and "acme-c2-s" not in html and "globex" not in html
    assert "Maria Lopez" not in html and "John Guard" not in html
    assert 'href="/operations/"' in html  # the nav link


def test_overdue_and_silent_rows_are_marked_and_filterable(seeded, client):  # noqa: F811
    client.force_login(seeded.user("supervisor"))
    tickets = client.get(PAGE, {"kind": "tickets", "flag": "1"}).content.decode()
    assert tickets.count('class="row--flagged"') == 4 and "Maria Lopez" in tickets
    assert "Light out" not in tickets
    devices = client.get(PAGE, {"kind": "devices"}).content.decode()
    assert devices.count('class="row--flagged"') == 4  # the panic buttons; cameras have 60 min
    one = client.get(
        PAGE, {"kind": "tickets", "client": seeded.clients[1].id, "status": "OPEN"}
    ).content.decode()
    assert one.count("<tr data-record") == 2


def test_needs_a_sign_in_and_noc_view(seeded, client):  # noqa: F811
    from watchfloor.tenancy.models import User

    assert client.get(PAGE).status_code == 302
    nobody = User.objects.create_user(username="acme-nobody", password="x", tenant=seeded.tenant)
    client.force_login(nobody)
    assert client.get(PAGE).status_code == 403


def test_bad_parameters_never_fail(seeded, client):  # noqa: F811
    client.force_login(seeded.user("admin"))
    for params in (
        {"kind": "x", "client": "9" * 40, "status": "a\x00b", "cursor": "!!"},
        {"kind": "devices", "flag": "1", "cursor": "cGs6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"},
    ):
        assert client.get(PAGE, params).status_code == 200
