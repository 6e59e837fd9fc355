"""The overview in Chromium: KPI tiles, every site in scope on the map (a marker of its own, or
in a numbered cluster with the sites close to it), filters in the URL.

Saves overview.png in test-artifacts/ (and docs/screenshots/ with WATCHFLOOR_SCREENSHOTS=docs).
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from .support import alert_event, screenshot, wait_until_rendered

KPI_NAMES = (
    "open",
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "unacknowledged_overdue",
    "suppressed_maintenance",
    "sites_with_critical",
    "mtta",
    "mttr",
)
MARKERS = "#map path.site-marker"  # a site drawn by itself
CLUSTERS = "#map .site-cluster__count"  # the label of sites close together, drawn as one
LEVELS = ("critical", "high", "medium", "low", "info", "ok")  # worst first, as js/sitemap.js


def marker_levels(page) -> Counter:
    """Every site the map draws, by level: each marker's own (`site-marker--critical` …
    `--ok`) and each cluster's sites (its `data-levels`). On the way it checks that a cluster's
    number is the count of its sites and that it is painted the legend's colour of the worst of
    them."""
    classes = page.locator(MARKERS).evaluate_all("paths => paths.map(p => p.getAttribute('class'))")
    levels = Counter()
    for names in classes:
        found = [n.split("--", 1)[1] for n in names.split() if n.startswith("site-marker--")]
        assert len(found) == 1, names
        levels[found[0]] += 1
    clusters = page.locator(CLUSTERS).evaluate_all(
        "labels => labels.map(l => [getComputedStyle(l.parentElement).backgroundColor,"
        " l.dataset.count, l.dataset.levels, l.textContent])"
    )
    # the colour a cluster is painted, as the legend paints each level (low and info are one)
    legend = {
        level: page.locator(f".legend .swatch--{'low' if level == 'info' else level}").evaluate(
            "s => getComputedStyle(s).backgroundColor"
        )
        for level in LEVELS
    }
    for painted, count, by_level, text in clusters:
        members = Counter({k: int(n) for k, n in (p.split(":") for p in by_level.split())})
        assert sum(members.values()) == int(count) == int(text) > 1, (count, by_level, text)
        worst = next(level for level in LEVELS if members[level])
        assert painted == legend[worst], (painted, by_level, legend)
        levels += members
    return levels


def wait_for_sites_drawn(page, count: int) -> None:
    """Until the map accounts for `count` sites (markers, and the sites inside clusters)."""
    page.wait_for_function(
        """([markers, clusters, count]) => {
          let drawn = document.querySelectorAll(markers).length;
          for (const label of document.querySelectorAll(clusters))
            drawn += Number(label.dataset.count);
          return drawn === count;
        }""",
        arg=[MARKERS, CLUSTERS, count],
    )


def api_levels(sites: list[dict]) -> Counter:
    return Counter((site["worst"] or "ok").lower() for site in sites)


def test_tiles_and_one_marker_per_site(server, tabs, unique):
    data = server.data
    # alerts of several severities, so the tiles and marker colours have something to show
    own_sites, other_sites = data["sites"][data["own_client"]], data["sites"][data["other_client"]]
    server.post_alerts(
        [
            # the live tests alert at the first sites: these stay at the severity given here
            alert_event(
                unique("Perimeter camera offline"), site=own_sites[-1], severity="CRITICAL"
            ),
            alert_event(unique("Guard tour missed"), site=own_sites[-2], severity="HIGH"),
            alert_event(unique("Door held open"), site=other_sites[-1], severity="MEDIUM"),
            alert_event(unique("Badge reader battery low"), site=other_sites[-2], severity="LOW"),
        ]
    )

    tab = tabs.open("admin")
    page = tab.page
    wait_until_rendered(page)

    kpis = server.api("admin", "GET", "/api/v1/overview/kpis").body
    expected = {
        "open": kpis["open"]["total"],
        "CRITICAL": kpis["open"]["by_severity"]["CRITICAL"],
        "HIGH": kpis["open"]["by_severity"]["HIGH"],
        "MEDIUM": kpis["open"]["by_severity"]["MEDIUM"],
        "LOW": kpis["open"]["by_severity"]["LOW"] + kpis["open"]["by_severity"]["INFO"],
        "unacknowledged_overdue": kpis["unacknowledged_overdue"],
        "suppressed_maintenance": kpis["suppressed_maintenance"],
        "sites_with_critical": kpis["sites_with_critical"],
    }
    assert expected["CRITICAL"] >= 1 and expected["open"] >= 4, kpis
    for name in KPI_NAMES:
        tile = page.locator(f'[data-kpi="{name}"]')
        expect(tile).to_be_visible()
        expect(tile.locator(".tile__value")).to_have_count(1)
        if name in expected:
            expect(tile.locator(".tile__value")).to_have_text(str(expected[name]))

    sites = server.api("admin", "GET", "/api/v1/overview/sites").body["sites"]
    assert len(sites) == data["site_count"] == 200
    wait_for_sites_drawn(page, len(sites))
    assert marker_levels(page) == api_levels(sites)
    assert {"critical", "high", "medium", "low", "ok"} <= set(marker_levels(page))
    screenshot(page, "overview", docs=True, full_page=True)

    # hovering a marker names its site; clicking it drills down to that site
    _zoom_until_a_marker_shows(page)
    x, y = _uncovered(page, MARKERS)
    page.mouse.move(x, y)
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_have_count(1)  # a clicked cluster's own fades out (200 ms)
    expect(tooltip).to_be_visible()
    code = tooltip.locator("strong").inner_text()
    assert code in {s["code"] for s in sites}
    page.mouse.click(x, y)
    expect(page).to_have_url(re.compile(rf"[?&]site={re.escape(code)}(&|$)"))
    expect(page.locator(MARKERS)).to_have_count(1)
    expect(page.locator("#drill")).to_contain_text(code)
    assert tab.failures == []


def _zoom_until_a_marker_shows(page) -> None:
    """Click clusters (each click zooms to the sites it holds) until a site's own marker is
    drawn: at the first view every site may be inside a cluster."""
    for _ in range(8):
        if page.locator(MARKERS).count():
            return
        zoom = page.locator("#map").get_attribute("data-zoom")
        page.mouse.click(*_uncovered(page, CLUSTERS))
        expect(page.locator("#map")).not_to_have_attribute("data-zoom", zoom or "")
    assert page.locator(MARKERS).count(), "clusters all the way down"


def _uncovered(page, selector: str) -> tuple[float, float]:
    """The centre of a marker or cluster (`selector`) inside the map's view that nothing else
    covers there (a real hover or click reaches it). The map is scrolled into view first: below
    the fold (under the field tiles) no point is hit."""
    page.locator("#map").scroll_into_view_if_needed()
    point = page.evaluate(
        """(selector) => {
          const map = document.querySelector("#map").getBoundingClientRect();
          for (const node of document.querySelectorAll(selector)) {
            const r = node.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            if (r.width === 0 || x < map.left || x > map.right || y < map.top || y > map.bottom)
              continue;
            const hit = document.elementFromPoint(x, y);
            if (hit && (hit === node || node.contains(hit) || hit.contains(node))) return [x, y];
          }
          return null;
        }""",
        selector,
    )
    assert point, f"every {selector} is covered by something else or out of view"
    return point[0], point[1]


def _admin_overview_drawn(server, tabs):
    """The admin's overview with every site drawn: (tab, page, the API's sites)."""
    tab = tabs.open("admin")
    page = tab.page
    wait_until_rendered(page)
    sites = server.api("admin", "GET", "/api/v1/overview/sites").body["sites"]
    wait_for_sites_drawn(page, len(sites))
    return tab, page, sites


def _cluster_in_view(page) -> tuple[float, float, int, str]:
    """A cluster nothing covers: its centre, its number and its sites by level."""
    x, y = _uncovered(page, CLUSTERS)
    count, by_level = page.evaluate(
        """([x, y]) => {
          const label = document.elementFromPoint(x, y).closest(".site-cluster")
            .querySelector(".site-cluster__count");
          return [Number(label.dataset.count), label.dataset.levels];
        }""",
        [x, y],
    )
    return x, y, count, by_level


def _expect_zoomed_in_from(page, zoom: float) -> None:
    expect(page.locator("#map")).not_to_have_attribute("data-zoom", str(zoom).removesuffix(".0"))
    assert float(page.locator("#map").get_attribute("data-zoom")) > zoom


def test_sites_close_together_are_one_cluster_named_on_hover_opened_by_a_click(server, tabs):
    tab, page, sites = _admin_overview_drawn(server, tabs)
    # 200 sites in 40 cities: at the national view a city's sites are one cluster
    assert page.locator(CLUSTERS).count() > 0
    x, y, count, by_level = _cluster_in_view(page)
    worst = by_level.split()[0].split(":")[0]
    page.mouse.move(x, y)
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip.locator("strong")).to_have_text(f"{count} sites")
    expect(tooltip).to_contain_text(f"worst {worst.upper()}" if worst != "ok" else "No open alert")
    zoom = float(page.locator("#map").get_attribute("data-zoom"))
    page.mouse.click(x, y)
    _expect_zoomed_in_from(page, zoom)
    wait_for_sites_drawn(page, len(sites))  # zoomed in, every site is still accounted for
    assert marker_levels(page) == api_levels(sites)
    assert tab.failures == []


def test_a_cluster_is_a_button_named_by_what_it_holds_and_enter_zooms_in(server, tabs):
    tab, page, _ = _admin_overview_drawn(server, tabs)
    x, y, count, _ = _cluster_in_view(page)
    named = page.get_by_role("button", name=re.compile(rf"^{count} sites: .+\. Zoom in\.$"))
    assert named.count() >= 1
    page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('.site-cluster').focus()", [x, y]
    )
    zoom = float(page.locator("#map").get_attribute("data-zoom"))
    page.keyboard.press("Enter")
    _expect_zoomed_in_from(page, zoom)
    assert tab.failures == []


def test_markers_follow_the_users_scope(server, tabs):
    data = server.data
    own = data["own_client"]
    tab = tabs.open("bt-scoped")
    page = tab.page
    wait_until_rendered(page)

    sites = server.api("bt-scoped", "GET", "/api/v1/overview/sites").body["sites"]
    assert {s["client_code"] for s in sites} == {own}
    assert sorted(s["code"] for s in sites) == data["sites"][own]
    wait_for_sites_drawn(page, len(sites))
    assert marker_levels(page) == api_levels(sites)
    # the client filter offers only the user's own client
    options = page.locator("#filters select[name=client] option")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("value", own)
    assert tab.failures == []


def test_filters_are_kept_in_the_url_and_across_reloads(server, tabs):
    data = server.data
    own, other = data["own_client"], data["other_client"]
    tab = tabs.open("supervisor")
    page = tab.page
    wait_until_rendered(page)
    wait_for_sites_drawn(page, data["site_count"])

    form = page.locator("#filters")
    form.locator("select[name=client]").select_option([own, other])
    form.locator("select[name=range]").select_option("24h")
    form.get_by_role("button", name="Apply").click()

    expect(page).to_have_url(re.compile(r"range=24h"))
    query = parse_qs(urlsplit(page.url).query)
    assert sorted(query["client"]) == sorted([own, other]), page.url
    assert query["range"] == ["24h"]
    wanted = len(data["sites"][own]) + len(data["sites"][other])
    wait_for_sites_drawn(page, wanted)
    api = server.api("supervisor", "GET", f"/api/v1/overview/sites?client={own},{other}&range=24h")
    assert len(api.body["sites"]) == wanted

    page.reload()
    wait_until_rendered(page)
    wait_for_sites_drawn(page, wanted)
    selected = form.locator("select[name=client]").evaluate(
        "s => [...s.selectedOptions].map(o => o.value)"
    )
    assert sorted(selected) == sorted([own, other])
    expect(form.locator("select[name=range]")).to_have_value("24h")

    # the same user's next visit without a query string starts from the last filters too
    page.goto(f"{server.url}/")
    wait_until_rendered(page)
    wait_for_sites_drawn(page, wanted)
    expect(page).to_have_url(re.compile(r"range=24h"))

    form.get_by_role("button", name="Clear").click()
    wait_for_sites_drawn(page, data["site_count"])
    expect(page).to_have_url(f"{server.url}/")
    assert tab.failures == []
