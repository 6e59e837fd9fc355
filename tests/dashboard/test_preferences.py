"""Per-user dashboard settings: the read/write functions, the API, the page and the theme."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client as BrowserClient
from django.test import RequestFactory

from watchfloor.audit.models import Action, AuditLog
from watchfloor.dashboard.models import DashboardSettings
from watchfloor.dashboard.preferences import (
    Preferences,
    cached_preferences,
    preferences_for,
    update_preferences,
)
from watchfloor.tenancy.models import User

URL = "/api/v1/me/dashboard-settings"
DEFAULTS = {
    "default_filters": {"client": [], "city": "", "state": "", "officer": None, "range": ""},
    "refresh_seconds": 30,
    "critical_sound": False,
    "critical_browser_notification": False,
    "theme": "system",
    "time_zone": "",
}
CSS = Path(__file__).resolve().parents[2] / "src/watchfloor/dashboard/static/watchfloor/css/app.css"


def audits():
    return AuditLog.objects.filter(
        action=Action.CONFIG_CHANGE, entity_type="dashboard.dashboardsettings"
    )


def fields(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]["fields"]


@pytest.fixture
def officer(estate):
    """A person in charge of the operator's first site (client 1) only."""
    person = User.objects.create_user(
        "ofc", tenant=estate.tenant, first_name="Olga", last_name="Fenn"
    )
    site = estate.sites[0]
    site.officer_in_charge = person
    site.save(update_fields=["officer_in_charge"])
    return person


# --- preferences_for / update_preferences ---------------------------------------------------


def test_defaults_without_a_row_in_one_query(estate, django_assert_num_queries):
    user = estate.user("operator")
    with django_assert_num_queries(1):
        prefs = preferences_for(user)
    assert prefs == Preferences()
    assert prefs.as_dict() == DEFAULTS
    assert not DashboardSettings.objects.exists()  # reading never writes


def test_an_anonymous_user_gets_the_defaults_without_a_query(db, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    with django_assert_num_queries(0):
        assert preferences_for(AnonymousUser()) == Preferences()


def test_update_saves_audits_without_pii_and_reads_back_in_one_query(
    estate, officer, django_assert_num_queries
):
    user = estate.user("operator")
    filters = {
        "client": [estate.clients[0].code],
        "city": "Austin",
        "state": "TX",
        "officer": officer.pk,
        "range": "24h",
    }
    saved = update_preferences(
        user, actor=user, default_filters=filters, refresh_seconds=60, theme="dark"
    )

    assert saved.default_filters == filters and saved.refresh_seconds == 60
    assert saved.theme == "dark" and saved.critical_sound is False
    row = DashboardSettings.objects.get(user=user)
    assert row.tenant == estate.tenant
    with django_assert_num_queries(1):
        assert preferences_for(user) == saved
    entry = audits().get()
    assert entry.actor == user and entry.tenant == estate.tenant
    assert entry.entity_id == str(row.pk)
    assert entry.details == {
        "change": "dashboard_settings.update",
        "fields": ["default_filters", "refresh_seconds", "theme"],
    }
    text = json.dumps(entry.details)
    assert "Austin" not in text and "Olga" not in text and str(officer.pk) not in text


def test_as_dict_is_json_ready_and_a_copy(estate):
    user = estate.user("operator")
    prefs = update_preferences(
        user, actor=user, default_filters={"client": [estate.clients[0].code]}
    )
    data = prefs.as_dict()
    json.dumps(data)
    data["default_filters"]["client"].append("x")
    assert prefs.default_filters["client"] == [estate.clients[0].code]
    assert preferences_for(user).default_filters["client"] == [estate.clients[0].code]


def test_a_second_change_updates_the_one_row_and_keeps_the_rest(estate):
    user = estate.user("operator")
    update_preferences(user, actor=user, critical_sound=True, refresh_seconds=10)
    prefs = update_preferences(user, actor=user, critical_browser_notification=True)
    assert prefs.critical_sound and prefs.critical_browser_notification
    assert prefs.refresh_seconds == 10
    assert DashboardSettings.objects.filter(user=user).count() == 1
    assert [e.details["fields"] for e in audits().order_by("id")] == [
        ["critical_sound", "refresh_seconds"],
        ["critical_browser_notification"],
    ]


def test_default_filters_is_replaced_as_a_whole(estate):
    user = estate.user("operator")
    update_preferences(user, actor=user, default_filters={"city": "Austin", "range": "7d"})
    prefs = update_preferences(user, actor=user, default_filters={"state": "TX"})
    assert prefs.default_filters == {**DEFAULTS["default_filters"], "state": "TX"}


def test_nothing_changed_writes_and_audits_nothing(estate):
    user = estate.user("operator")
    assert update_preferences(user, actor=user, theme="system", refresh_seconds=30) == Preferences()
    assert not DashboardSettings.objects.exists() and not audits().exists()
    update_preferences(user, actor=user, theme="light")
    update_preferences(user, actor=user, theme="light")
    assert audits().count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"refresh_seconds": 4}, "refresh_seconds"),
        ({"refresh_seconds": 301}, "refresh_seconds"),
        ({"refresh_seconds": "30"}, "refresh_seconds"),
        ({"refresh_seconds": True}, "refresh_seconds"),
        ({"critical_sound": "yes"}, "critical_sound"),
        ({"critical_browser_notification": 1}, "critical_browser_notification"),
        ({"theme": "blue"}, "theme"),
        ({"colour": "red"}, "colour"),
        ({"default_filters": []}, "default_filters"),
        ({"default_filters": {"range": "2h"}}, "default_filters.range"),
        ({"default_filters": {"site": "x"}}, "default_filters.site"),
        ({"default_filters": {"client": "acme-c1"}}, "default_filters.client"),
        ({"default_filters": {"city": 7}}, "default_filters.city"),
        ({"default_filters": {"state": "x" * 101}}, "default_filters.state"),
        ({"default_filters": {"officer": "7"}}, "default_filters.officer"),
        ({"default_filters": {"officer": 0}}, "default_filters.officer"),
    ],
)
def test_every_field_is_validated_and_named(estate, changes, field):
    user = estate.user("operator")
    with pytest.raises(ValidationError) as caught:
        update_preferences(user, actor=user, **{"critical_sound": True, **changes})
    assert field in caught.value.message_dict
    assert not DashboardSettings.objects.exists() and not audits().exists()


def test_client_codes_out_of_scope_and_unknown_read_the_same(estate, other_estate):
    user = estate.user("operator")  # sees client 1 only

    def message(code: str) -> str:
        with pytest.raises(ValidationError) as caught:
            update_preferences(user, actor=user, default_filters={"client": [code]})
        (text,) = caught.value.message_dict["default_filters.client"]
        return text.replace(code, "CODE")

    other_client = message(estate.clients[1].code)
    other_tenant = message(other_estate.clients[0].code)
    unknown = message("no-such-client")
    assert other_client == other_tenant == unknown == "Not in your scope: 'CODE'."
    ok = update_preferences(
        user, actor=user, default_filters={"client": [estate.clients[0].code] * 2}
    )
    assert ok.default_filters["client"] == [estate.clients[0].code]  # repeats folded


def test_officer_must_run_a_site_in_scope(estate, officer):
    viewer = estate.user("viewer")  # sees one site of client 2, not the officer's site
    with pytest.raises(ValidationError) as caught:
        update_preferences(viewer, actor=viewer, default_filters={"officer": officer.pk})
    assert caught.value.message_dict["default_filters.officer"] == ["Not in your scope."]
    with pytest.raises(ValidationError) as caught:
        update_preferences(viewer, actor=viewer, default_filters={"officer": 987654})
    assert caught.value.message_dict["default_filters.officer"] == ["Not in your scope."]
    operator = estate.user("operator")
    saved = update_preferences(operator, actor=operator, default_filters={"officer": officer.pk})
    assert saved.default_filters["officer"] == officer.pk


def test_only_the_user_may_change_their_settings(estate):
    user, admin = estate.user("operator"), estate.user("admin")
    with pytest.raises(PermissionDenied):
        update_preferences(user, actor=admin, theme="dark")
    assert not DashboardSettings.objects.exists() and not audits().exists()


def test_a_hand_edited_row_reads_as_sane_values(estate):
    user = estate.user("operator")
    DashboardSettings.objects.create(
        tenant=estate.tenant,
        user=user,
        default_filters={"client": ["a", 3], "officer": "x", "range": "2h", "junk": 1},
        theme="dark",
    )
    prefs = preferences_for(user)
    assert prefs.default_filters == {**DEFAULTS["default_filters"], "client": ["a"]}
    assert prefs.theme == "dark"


def test_cached_preferences_reads_once_per_request(estate, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = estate.user("operator")
    with django_assert_num_queries(1):
        assert cached_preferences(request) is cached_preferences(request)


# --- API ------------------------------------------------------------------------------------


def test_get_answers_the_defaults(api, estate):
    response = api(estate.user("viewer")).get(URL)
    assert response.status_code == 200
    assert response.json() == DEFAULTS


def test_patch_a_subset_answers_and_keeps_the_whole(api, estate):
    client = api(estate.user("operator"))
    response = client.patch(URL, {"theme": "light", "critical_sound": True})
    assert response.status_code == 200
    assert response.json() == {**DEFAULTS, "theme": "light", "critical_sound": True}
    response = client.patch(
        URL, {"default_filters": {"client": [estate.clients[0].code], "range": "1h"}}
    )
    assert response.json()["default_filters"] == {
        **DEFAULTS["default_filters"],
        "client": [estate.clients[0].code],
        "range": "1h",
    }
    assert client.get(URL).json() == {
        **DEFAULTS,
        "theme": "light",
        "critical_sound": True,
        "default_filters": response.json()["default_filters"],
    }
    assert audits().count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"refresh_seconds": 2}, "refresh_seconds"),
        ({"refresh_seconds": "30"}, "refresh_seconds"),
        ({"refresh_seconds": None}, "refresh_seconds"),
        ({"theme": "sepia"}, "theme"),
        ({"critical_sound": "true"}, "critical_sound"),
        ({"colour": "red"}, "colour"),
        ({"default_filters": {"range": "2d"}}, "default_filters.range"),
        ({"default_filters": {"site": "x"}}, "default_filters.site"),
        ({"default_filters": {"officer": "me"}}, "default_filters.officer"),
        ({"default_filters": {"client": ["nope"]}}, "default_filters.client"),
    ],
)
def test_patch_bad_input_is_a_422_naming_the_field(api, estate, body, field):
    response = api(estate.user("operator")).patch(URL, body)
    assert response.status_code == 422, response.content
    assert field in fields(response), fields(response)
    assert not DashboardSettings.objects.exists()


def test_patch_out_of_scope_client_reads_like_an_unknown_one(api, estate, other_estate):
    client = api(estate.user("operator"))

    def answer(code):
        response = client.patch(URL, {"default_filters": {"client": [code]}})
        assert response.status_code == 422
        return fields(response)["default_filters.client"].replace(code, "CODE")

    assert (
        answer(estate.clients[1].code)
        == answer(other_estate.clients[0].code)
        == answer("nope")
        == "Not in your scope: 'CODE'."
    )


def test_settings_need_noc_view_and_authentication(api, estate, client):
    nobody = User.objects.create_user("norole", tenant=estate.tenant)
    assert api(nobody).get(URL).status_code == 403
    assert api(nobody).patch(URL, {"theme": "dark"}).status_code == 403
    assert not DashboardSettings.objects.exists()
    assert client.get(URL).status_code == 401
    assert api(raw_auth="Bearer wft_nope").patch(URL, {"theme": "dark"}).status_code == 401


def test_each_user_reads_only_their_own(api, estate, other_estate):
    api(estate.user("operator")).patch(URL, {"theme": "dark"})
    assert api(estate.user("admin")).get(URL).json()["theme"] == "system"
    assert api(other_estate.user("operator")).get(URL).json()["theme"] == "system"


def test_session_patch_needs_the_csrf_token(estate):
    browser = BrowserClient(enforce_csrf_checks=True)
    browser.force_login(estate.user("operator"))
    response = browser.patch(URL, data='{"theme": "dark"}', content_type="application/json")
    assert response.status_code == 403
    assert not DashboardSettings.objects.exists()


# --- the page -------------------------------------------------------------------------------


def test_settings_page_needs_sign_in_and_noc_view(client, estate):
    response = client.get("/settings/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(User.objects.create_user("norole", tenant=estate.tenant))
    assert client.get("/settings/").status_code == 403
    assert client.post("/settings/", {"theme": "dark", "refresh_seconds": 30}).status_code == 403
    assert not DashboardSettings.objects.exists()
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).count() == 2


def test_settings_page_shows_a_form_in_scope(client, estate, officer):
    client.force_login(estate.user("operator"))
    page = client.get("/settings/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert f'value="{estate.clients[0].code}"' in page
    assert f'value="{estate.clients[1].code}"' not in page  # out of scope
    assert f'<option value="{officer.pk}">O***a F***n</option>' in page  # no noc:view_pii
    assert "Olga" not in page
    assert 'name="refresh_seconds" value="30"' in page
    assert 'type="radio" name="theme" value="system" checked' in page
    assert 'href="/settings/" aria-current="page">Settings</a>' in page


def test_settings_page_saves_with_a_message(estate, officer):
    browser = BrowserClient(enforce_csrf_checks=True)
    user = estate.user("operator")
    browser.force_login(user)
    page = browser.get("/settings/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {
        "csrfmiddlewaretoken": token,
        "client": [estate.clients[0].code],
        "state": "TX",
        "city": "Austin",
        "officer": str(officer.pk),
        "range": "6h",
        "refresh_seconds": "15",
        "critical_sound": "on",
        "theme": "dark",
        "time_zone": "America/Chicago",
    }
    response = browser.post("/settings/", form)
    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert preferences_for(user).as_dict() == {
        "default_filters": {
            "client": [estate.clients[0].code],
            "city": "Austin",
            "state": "TX",
            "officer": officer.pk,
            "range": "6h",
        },
        "refresh_seconds": 15,
        "critical_sound": True,
        "critical_browser_notification": False,
        "theme": "dark",
        "time_zone": "America/Chicago",
    }
    page = browser.get("/settings/").content.decode()
    assert "Your dashboard settings are saved." in page
    assert '<html lang="en" data-theme="dark">' in page
    assert 'name="critical_sound" id="id_critical_sound" checked' in page
    # without the token the form is refused
    form.pop("csrfmiddlewaretoken")
    assert browser.post("/settings/", {**form, "theme": "light"}).status_code == 403
    assert preferences_for(user).theme == "dark"


def test_settings_page_shows_errors_and_saves_nothing(client, estate):
    client.force_login(estate.user("operator"))
    response = client.post(
        "/settings/", {"refresh_seconds": "3", "theme": "dark", "client": ["acme-c2"]}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="refresh-error"' in page and 'id="client-error"' in page
    assert not DashboardSettings.objects.exists()


# --- theme ----------------------------------------------------------------------------------


def test_every_page_carries_the_theme(client, estate):
    user = estate.user("supervisor")
    assert '<html lang="en" data-theme="system">' in client.get("/login/").content.decode()
    client.force_login(user)
    assert '<html lang="en" data-theme="system">' in client.get("/").content.decode()
    update_preferences(user, actor=user, theme="light")
    page = client.get("/").content.decode()
    assert '<html lang="en" data-theme="light">' in page
    assert '<meta name="color-scheme" content="light">' in page


def test_the_theme_costs_one_query_per_page(client, estate):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = estate.user("supervisor")
    client.force_login(user)
    client.get("/settings/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/settings/")
    reads = [q for q in captured if "dashboard_dashboardsettings" in q["sql"]]
    assert len(reads) == 1  # the view and the context processor share it


def _dark_blocks(css: str) -> tuple[str, str]:
    media = re.search(
        r"@media \(prefers-color-scheme: dark\) \{\s*"
        r":root:not\(\[data-theme=light\]\) \{(.*?)\}\s*\}",
        css,
        re.S,
    )
    forced = re.search(r":root\[data-theme=dark\] \{(.*?)\}", css, re.S)
    assert media and forced, "the dark palette blocks are missing"
    return media.group(1), forced.group(1)


def test_css_forces_the_chosen_palette_and_system_follows_the_os(client, db):
    css = CSS.read_text()
    follows_os, forced_dark = _dark_blocks(css)

    def declarations(block: str) -> dict[str, str]:
        return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))

    # the forced dark palette is the system's dark palette, variable for variable
    assert declarations(follows_os) == declarations(forced_dark)
    assert len(declarations(forced_dark)) >= 15
    assert "color-scheme: dark" in forced_dark
    assert re.search(r":root\[data-theme=light\] \{ color-scheme: light; \}", css)
    assert client.get("/static/watchfloor/css/app.css").status_code == 200
