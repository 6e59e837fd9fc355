"""GET /api/v1/alerts/{id}/assignees: the one list of people an alert may be assigned to.

#10 bug 5: the overview's assign menu offered every person of the tenant (74 in the demo) and the
first one failed with a 422, while the detail page listed the 6 valid ones. Both now read this
list, and the service accepts exactly the people on it.
"""

from __future__ import annotations

import pytest

from support_alerts import key_for, trigger
from support_api import V1
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.tenancy.models import User

__all__ = ["key_for"]


@pytest.fixture
def crowd(estate):
    """Many more people in the tenant than can take a given alert: viewers of other sites,
    executives (who see everything but cannot acknowledge), operators of the other client."""
    from django.contrib.auth.models import Group

    from watchfloor.access.services import assign_scope

    for n in range(12):
        role = ("viewer", "executive", "operator")[n % 3]
        person = User.objects.create_user(f"crowd{n}", tenant=estate.tenant, first_name="Aaron")
        person.groups.add(Group.objects.get(name=role))
        if role == "viewer":
            assign_scope(person, sites=[estate.sites[3]])
        if role == "operator":
            assign_scope(person, clients=[estate.clients[1]])
    return estate


@pytest.fixture
def raise_on(key_for):
    """raise_on(estate, site): a new open alert on the site (one integration key per tenant)."""
    keys = {}

    def raise_alert(estate, site):
        key = keys.get(estate.tenant.id) or keys.setdefault(estate.tenant.id, key_for(estate))
        ingest([trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH)], key=key)
        return Alert.objects.filter(site=site).latest("id")

    return raise_alert


def test_every_person_offered_can_be_assigned_and_nobody_else(crowd, raise_on, api):
    operator = api(crowd.user("operator"))
    alert = raise_on(crowd, crowd.sites[0])
    answer = operator.get(f"{V1}/alerts/{alert.id}/assignees")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["alert_id"] == alert.id and body["assignable"] is True
    offered = [p["id"] for p in body["assignees"]]
    # the people who see the first client's site and may acknowledge: the operator (assigned
    # the client), the supervisor and the admin (all clients); no crowd member qualifies
    expected = {crowd.user(r).id for r in ("operator", "supervisor", "admin")}
    assert set(offered) == expected
    assert len(offered) < User.objects.filter(tenant=crowd.tenant, is_active=True).count()
    # the first offered person is accepted (the bug: the first one was a 422) and so is each
    for person_id in offered:
        done = operator.post(f"{V1}/alerts/{alert.id}/assign", {"assignee_id": person_id})
        assert done.status_code == 200, done.content
    # someone not offered is refused
    outsider = User.objects.get(username="crowd1")  # an executive: sees it, cannot acknowledge
    refused = operator.post(f"{V1}/alerts/{alert.id}/assign", {"assignee_id": outsider.id})
    assert refused.status_code == 422
    assert "assignee_id" in refused.json()["error"]["fields"]


def test_names_are_masked_without_view_pii(crowd, raise_on, api):
    alert = raise_on(crowd, crowd.sites[0])
    masked = api(crowd.user("operator")).get(f"{V1}/alerts/{alert.id}/assignees").json()
    clear = api(crowd.user("supervisor")).get(f"{V1}/alerts/{alert.id}/assignees").json()
    assert {p["name"] for p in clear["assignees"]} >= {"Supervisor Person", "Operator Person"}
    assert {p["name"] for p in masked["assignees"]} >= {"Su***r Pe***n", "Op***r Pe***n"}
    assert "Supervisor Person" not in str(masked)


def test_capability_scope_and_tenant(crowd, other_estate, raise_on, api):
    alert = raise_on(crowd, crowd.sites[0])
    # a viewer cannot assign: 403, whether or not the alert is theirs
    viewer = api(crowd.user("viewer"))
    assert viewer.get(f"{V1}/alerts/{alert.id}/assignees").status_code == 403
    # out of the operator's scope (the second client's site) and another tenant's: 404
    elsewhere = raise_on(crowd, crowd.sites[2])
    theirs = raise_on(other_estate, other_estate.sites[0])
    operator = api(crowd.user("operator"))
    assert operator.get(f"{V1}/alerts/{elsewhere.id}/assignees").status_code == 404
    assert operator.get(f"{V1}/alerts/{theirs.id}/assignees").status_code == 404
    assert operator.get(f"{V1}/alerts/999999/assignees").status_code == 404
    assert api(None).get(f"{V1}/alerts/{alert.id}/assignees").status_code == 401


def test_a_resolved_alert_says_it_cannot_be_assigned(crowd, raise_on, api):
    from watchfloor.alerts.services import resolve_alert

    alert = raise_on(crowd, crowd.sites[0])
    resolve_alert(alert, actor=crowd.user("supervisor"), note="done")
    body = api(crowd.user("operator")).get(f"{V1}/alerts/{alert.id}/assignees").json()
    assert body["assignable"] is False


def test_query_count_does_not_grow_with_the_people(
    crowd, raise_on, api, django_assert_max_num_queries
):
    alert = raise_on(crowd, crowd.sites[0])
    operator = api(crowd.user("operator"))
    operator.get(f"{V1}/alerts/{alert.id}/assignees")  # warm the token and permission caches
    with django_assert_max_num_queries(8) as few:
        operator.get(f"{V1}/alerts/{alert.id}/assignees")
    for n in range(20):
        User.objects.create_user(f"more{n}", tenant=crowd.tenant)
    with django_assert_max_num_queries(len(few.captured_queries)):
        operator.get(f"{V1}/alerts/{alert.id}/assignees")
