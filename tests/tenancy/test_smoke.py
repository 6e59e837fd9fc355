from django.urls import reverse


def test_me_shows_tenant_capabilities_and_scope(estate, api):
    response = api(estate.user("operator")).get("/api/v1/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tenant"]["slug"] == "acme"
    assert "noc:ack_alerts" in body["capabilities"]
    assert body["scope"]["kind"] == "assigned_clients"
    assert body["scope"]["client_ids"] == [estate.clients[0].id]


def test_health_reports_components(client, db, monkeypatch):
    from django.utils import timezone

    # this process "just started": no periodic job can be stale yet (tests/jobs cover staleness)
    monkeypatch.setattr("watchfloor.jobs.queries.UP_SINCE", timezone.now())
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert set(response.json()["components"]) == {
        "database",
        "cache",
        "broker",
        "workers",
        "jobs",
        "ingestion",
    }
