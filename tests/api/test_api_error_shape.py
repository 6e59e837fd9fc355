"""Errors Django answers around ninja still come in the API's one JSON shape."""

import json


def test_unknown_api_path_is_a_json_404(estate, api):
    response = api(estate.user("admin")).get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_a_json_405_with_allow(estate, api):
    response = api(estate.user("admin")).delete("/api/v1/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_body_over_the_limit_is_a_413_naming_the_body(estate, api, settings):
    from watchfloor.tenancy.models import Client

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = Client.objects.count()
    payload = {"code": "BIG", "name": "x" * 2000}
    response = api(estate.user("admin")).post("/api/v1/clients", raw=json.dumps(payload))
    assert response.status_code == 413
    body = response.json()["error"]
    assert body["code"] == "too_large" and "body" in body["fields"]
    assert Client.objects.count() == before


def test_pages_outside_the_api_keep_html_errors(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
