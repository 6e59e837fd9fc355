"""The overview page shell: who may open it, and what its config tells the page's script."""

from __future__ import annotations

import json
import re

import pytest

from support_alerts import key_for, trigger

__all__ = ["key_for"]  # a fixture


def config_of(response) -> dict:
    match = re.search(
        r'<script id="overview-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries its config"
    return json.loads(match.group(1))


def test_overview_needs_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_overview_gives_the_script_the_users_choices_and_capabilities(client, estate):
    client.force_login(estate.user("operator"))
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies  # the page writes through the API
    config = config_of(response)
    assert [c["code"] for c in config["choices"]["clients"]] == [estate.clients[0].code]
    assert config["choices"]["cities"] == ["Austin", "Denver"]
    # each city with its state, so choosing a state narrows the cities (#10 bug 15)
    assert config["choices"]["places"] == [
        {"city": "Austin", "state": "TX"},
        {"city": "Denver", "state": "CO"},
    ]
    # client ids: the tiles and the feed link to the alerts page, which filters by client id
    assert config["choices"]["clients"][0]["id"] == estate.clients[0].id
    assert config["alerts_url"] == "/alerts/"
    assert "noc:ack_alerts" in config["capabilities"]
    assert config["ws_path"] == "/ws/dashboard/"
    assert config["alert_url"] == "/alerts/0/"
    assert set(config["preferences"]) >= {"default_filters", "refresh_seconds", "theme"}


def test_a_viewer_gets_no_ack_capability_and_only_their_clients(client, estate):
    client.force_login(estate.user("viewer"))
    config = config_of(client.get("/"))
    assert "noc:ack_alerts" not in config["capabilities"]
    assert [c["code"] for c in config["choices"]["clients"]] == [estate.clients[1].code]


def test_the_page_carries_no_tenant_wide_list_of_assignees(client, estate):
    """#10 bug 5: the page offered every person of the tenant as an assignee (the first one
    failed with a 422); the assign form now reads GET /api/v1/alerts/{id}/assignees, the same
    list the detail page shows and the service accepts."""
    client.force_login(estate.user("operator"))
    config = config_of(client.get("/"))
    assert "assignees" not in config["choices"]
    script = client.get("/static/watchfloor/js/overview.js")
    body = b"".join(script.streaming_content) if script.streaming else script.content
    assert b"/api/v1/alerts/${id}/assignees" in body


@pytest.mark.parametrize("sites", [4, 40])
def test_overview_query_count_does_not_grow(client, estate, sites, django_assert_max_num_queries):
    from watchfloor.tenancy.models import Site

    for i in range(sites - 4):
        Site.objects.create(
            tenant=estate.tenant, client=estate.clients[0], code=f"x{i}", name=f"X{i}", city=f"C{i}"
        )
    client.force_login(estate.user("admin"))
    client.get("/")
    with django_assert_max_num_queries(14):
        assert client.get("/").status_code == 200


def test_the_page_preloads_every_module_overview_js_imports(client, estate):
    """modulepreload links name the whole import graph of overview.js (followed here from the
    files), so the browser fetches it in one round instead of one round per import level."""
    from pathlib import Path

    import watchfloor.dashboard

    js = Path(watchfloor.dashboard.__file__).parent / "static" / "watchfloor" / "js"
    graph, todo = set(), [js / "overview.js"]
    while todo:
        module = todo.pop()
        for spec in re.findall(r'^import .*? from "(\.[^"]+)";', module.read_text(), re.M):
            found = (module.parent / spec).resolve()
            if found not in graph:
                graph.add(found)
                todo.append(found)
    expected = {f"/static/watchfloor/js/{p.relative_to(js)}" for p in graph}
    client.force_login(estate.user("operator"))
    page = client.get("/").content.decode()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page))
    assert len(expected) > 10 and preloaded == expected


def preload_of(response) -> dict | None:
    match = re.search(
        r'<script id="overview-preload" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1)) if match else None


def ask_api(client, token: str) -> dict:
    """The page's three unfiltered answers from the API (computed and shared)."""
    auth = {"HTTP_AUTHORIZATION": token}
    return {
        "kpis": client.get("/api/v1/overview/kpis", **auth).json(),
        "sites": client.get("/api/v1/overview/sites", **auth).json(),
        "feed": client.get("/api/v1/overview/feed", {"limit": 200}, **auth).json(),
    }


@pytest.mark.parametrize("role", ["supervisor", "executive", "viewer"])
def test_the_unfiltered_page_carries_the_held_answers(client, estate, role, token_for, key_for):
    """The page opened without filters carries the tiles, map and feed answers someone of the
    same scope and PII view was given (held: never computed for the page), byte for byte what
    the API answers that person, masking included; with none held it carries none."""
    from watchfloor.alerts.pipeline import ingest

    site = estate.sites[0]
    ingest(
        [trigger("GUARD_CALL", site=site.code, title="Call jane.doe@example.com")],
        key=key_for(estate),
    )
    user = estate.user(role)
    client.force_login(user)
    assert preload_of(client.get("/")) is None  # nothing held yet: the page asks
    answers = ask_api(client, token_for(user))
    pre = preload_of(client.get("/"))
    assert pre is not None and pre["feed_limit"] == 200 and pre["feed_sort"] == "severity"
    assert {k: pre[k] for k in ("kpis", "sites", "feed")} == answers
    titles = " ".join(row["title"] for row in pre["feed"]["alerts"])
    if role != "viewer":  # the viewer's one site is another
        assert ("jane.doe@example.com" in titles) == (role == "supervisor")  # masked w/o PII


def test_the_page_carries_no_held_answer_after_a_step(client, estate, token_for, key_for):
    from watchfloor.alerts.pipeline import ingest

    user = estate.user("supervisor")
    client.force_login(user)
    ask_api(client, token_for(user))
    assert preload_of(client.get("/")) is not None
    ingest([trigger("GUARD_CALL", site=estate.sites[0].code)], key=key_for(estate))
    assert preload_of(client.get("/")) is None  # a new alert: the held ones are not current


def test_a_filtered_page_carries_no_answers(client, estate, token_for):
    user = estate.user("supervisor")
    client.force_login(user)
    ask_api(client, token_for(user))
    assert preload_of(client.get("/", {"client": estate.clients[0].code})) is None
    assert preload_of(client.get("/", {"range": "1h"})) is None
    assert preload_of(client.get("/")) is not None


def test_the_preloaded_answers_cannot_close_their_script(client, estate, token_for):
    from watchfloor.tenancy.models import Site

    Site.objects.filter(pk=estate.sites[0].pk).update(name="</script><script>alert(1)</script>&")
    user = estate.user("supervisor")
    client.force_login(user)
    ask_api(client, token_for(user))
    response = client.get("/")
    assert b"<script>alert(1)" not in response.content
    names = [s["name"] for s in preload_of(response)["sites"]["sites"]]
    assert "</script><script>alert(1)</script>&" in names
