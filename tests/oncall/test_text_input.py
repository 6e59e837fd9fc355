"""Names and labels with NUL characters or lone surrogates are refused, naming the field, and
nothing is stored (PostgreSQL would refuse a NUL: a 500 on write)."""

from __future__ import annotations

import pytest

from watchfloor.oncall.models import ContactMethod, EscalationPolicy, Schedule

STEPS = [{"delay_minutes": 1, "targets": [{"kind": "officer"}]}]


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_bad_characters_are_a_422_naming_the_field(estate, api, bad):
    admin = api(estate.user("admin"))
    client_id = estate.clients[0].id
    cases = [
        ("/api/v1/escalation-policies", {"name": bad, "client_id": client_id, "steps": STEPS}),
        ("/api/v1/schedules", {"name": bad}),
        ("/api/v1/me/contact-methods", {"medium": "email", "label": bad, "address": "a@b.io"}),
    ]
    for path, body in cases:
        answer = admin.post(path, body)
        assert answer.status_code == 422, (path, answer.content)
        fields = answer.json()["error"]["fields"]
        assert set(fields) & {"name", "label"}, fields
    assert not EscalationPolicy.objects.exists()
    assert not Schedule.objects.exists()
    assert not ContactMethod.objects.exists()


def test_a_policy_edit_with_a_nul_name_changes_nothing(estate, api):
    admin = api(estate.user("admin"))
    made = admin.post(
        "/api/v1/escalation-policies",
        {"name": "Night", "client_id": estate.clients[0].id, "steps": STEPS},
    ).json()
    answer = admin.patch(f"/api/v1/escalation-policies/{made['id']}", {"name": "x\x00"})
    assert answer.status_code == 422 and "name" in answer.json()["error"]["fields"]
    policy = EscalationPolicy.objects.get(pk=made["id"])
    assert policy.name == "Night" and policy.current.number == 1
