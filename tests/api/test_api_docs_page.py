"""/api/v1/docs is Swagger UI served from the package (bug 7 of #10): every script and stylesheet
it loads is one of Watchfloor's static files, none from a CDN."""

from __future__ import annotations

import json
import re

from django.contrib.staticfiles import finders


def page_assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="([^"]+)\"""", html)


def test_docs_page_loads_swagger_ui_from_the_package(db, client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assets = page_assets(html)
    assert any(a.endswith("swagger-ui-dist/swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui-dist/swagger-ui.css") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file"


def test_docs_page_settings_point_at_the_local_spec_without_the_validator(db, client):
    html = client.get("/api/v1/docs").content.decode()
    raw = re.search(r'<script id="swagger-settings" type="application/json">(.*?)</script>', html)
    settings = json.loads(raw.group(1))
    assert settings["url"] == "/api/v1/openapi.json"
    assert settings["validatorUrl"] is None  # the badge would be fetched from swagger.io
    assert "<script>" not in html  # no inline script: the start-up is a static file
