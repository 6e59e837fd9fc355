"""Bulk acknowledge and resolve (alerts.services.bulk_*, POST /api/v1/alerts/bulk/…): one
transaction, only alerts the caller may act on (the rest reported as skipped with the reason),
one audit entry per alert, events after commit, capability and validation errors."""

from __future__ import annotations

import pytest

from support_alerts import key_for, publisher, trigger
from support_api import V1, error_fields
from watchfloor.alerts import services
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog

__all__ = ["key_for", "publisher"]


@pytest.fixture
def seeded(estate, key_for):
    ingest(
        [
            trigger("DEVICE_OFFLINE", site=site.code, entity_id=str(n))
            for n, site in enumerate(estate.sites)
        ],
        key=key_for(estate),
    )
    return estate


def test_api_bulk_acknowledge_reports_what_it_skipped(
    seeded, other_estate, key_for, api, publisher, django_capture_on_commit_callbacks
):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    theirs = Alert.objects.get(tenant=other_estate.tenant)
    mine = list(Alert.objects.filter(tenant=seeded.tenant).order_by("id"))
    in_scope = [a.id for a in mine if a.client_id == seeded.clients[0].id]
    resolved = in_scope[0]
    Alert.objects.filter(pk=resolved).update(status=Status.RESOLVED)
    operator = seeded.user("operator")  # sees only the first client's two sites
    ids = [a.id for a in mine] + [theirs.id, 10**12]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(operator).post(f"{V1}/alerts/bulk/acknowledge", {"ids": ids})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["done"] == in_scope[1:]
    skipped = {s["id"]: s["reason"] for s in body["skipped"]}
    assert skipped[resolved] == "Cannot acknowledge an alert that is RESOLVED."
    for other in [a.id for a in mine if a.id not in in_scope] + [theirs.id, 10**12]:
        assert skipped[other] == services.NOT_FOUND
    assert sorted(e["alert"]["id"] for e in publisher.events) == body["done"]
    audited = AuditLog.objects.filter(action=Action.ACKNOWLEDGE, actor=operator)
    assert sorted(int(e.entity_id) for e in audited) == body["done"]
    theirs.refresh_from_db()
    assert theirs.status == Status.NEW


def test_api_bulk_resolve_and_its_errors(seeded, api):
    ids = list(Alert.objects.values_list("id", flat=True))
    admin = api(seeded.user("admin"))
    missing_note = admin.post(f"{V1}/alerts/bulk/resolve", {"ids": ids})
    assert missing_note.status_code == 422 and "note" in error_fields(missing_note)
    for body in ({"ids": []}, {"ids": list(range(1, 502))}, {"ids": [0]}, {"ids": ["x"]}):
        answer = admin.post(f"{V1}/alerts/bulk/acknowledge", body)
        assert answer.status_code == 422, body
    done = admin.post(f"{V1}/alerts/bulk/resolve", {"ids": ids, "note": "Power restored"})
    assert sorted(done.json()["done"]) == sorted(ids)
    assert set(Alert.objects.values_list("status", flat=True)) == {Status.RESOLVED}
    assert set(Alert.objects.values_list("resolution_note", flat=True)) == {"Power restored"}
    denied = api(seeded.user("executive")).post(f"{V1}/alerts/bulk/acknowledge", {"ids": ids})
    assert denied.status_code == 403


def test_a_failure_midway_leaves_nothing_half_done(seeded, monkeypatch):
    """One transaction: if writing the third alert fails, the first two are not acknowledged."""
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    real = services._save_and_audit
    calls = []

    def flaky(alert, fields, **kw):
        calls.append(alert.id)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(alert, fields, **kw)

    monkeypatch.setattr(services, "_save_and_audit", flaky)
    with pytest.raises(RuntimeError):
        services.bulk_acknowledge(ids, actor=seeded.user("admin"))
    assert set(Alert.objects.values_list("status", flat=True)) == {Status.NEW}
    assert not AuditLog.objects.filter(action=Action.ACKNOWLEDGE).exists()
