"""A closed operations network (bug 7 of #10): with every request to a host other than the
server refused, the API docs page still renders Swagger UI and the overview map still draws the
bundled outline of countries and US states, without a console error."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from .conftest import Tab
from .support import screenshot, wait_until_rendered


def offline_tab(browser, server, username: str | None = None) -> tuple[Tab, list[str]]:
    """A tab that can reach only the test server; the URLs it tried elsewhere are listed."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    refused: list[str] = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_local)
    tab = Tab(context, username)
    if username is not None:
        page = tab.page
        page.goto(f"{server.url}/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(server.data["accounts"][username]["password"])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(server.url + "/")
    return tab, refused


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def spec_operations(spec: dict) -> list[tuple[str, str, str]]:
    """(tag, METHOD, path) of every operation block Swagger UI shows: one per tag of each
    operation ("default" for an untagged one)."""
    return sorted(
        (tag, method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        for tag in operation.get("tags") or ["default"]
    )


# what each rendered operation block says it is (its tag section, method and path)
RENDERED_OPERATIONS = """() => Array.from(document.querySelectorAll("#swagger-ui .opblock")).map(
  (block) => [
    block.closest(".opblock-tag-section").querySelector("h3.opblock-tag").dataset.tag,
    block.querySelector(".opblock-summary-method").textContent.trim(),
    block.querySelector(".opblock-summary [data-path]").dataset.path,
  ])"""


def test_api_docs_render_without_the_internet(server, browser):
    """Every operation of the spec is in the page (Swagger UI 5 alone would keep only the ~12
    in the viewport in the DOM: it virtualizes lists of 150 tags + operations or more), every
    tag expanded as the page opens, and nothing is fetched from another host."""
    tab, refused = offline_tab(browser, server)
    try:
        page = tab.page
        page.goto(f"{server.url}/api/docs")
        expect(page.locator("#swagger-ui .title").first).to_contain_text("Watchfloor API")
        spec = page.request.get(f"{server.url}/api/v1/openapi.json").json()
        expected = spec_operations(spec)
        assert len(expected) > 150  # the size at which Swagger UI virtualizes its list
        page.wait_for_function(
            "n => document.querySelectorAll('#swagger-ui .opblock').length >= n",
            arg=len(expected),
            timeout=30_000,
        )
        assert page.locator("#swagger-ui .operations-virtual").count() == 0
        tags = {tag for tag, _, _ in expected}
        sections = page.locator("#swagger-ui .opblock-tag-section")
        assert sections.count() == len(tags)
        assert page.locator("#swagger-ui .opblock-tag-section.is-open").count() == len(tags)
        rendered = sorted(tuple(row) for row in page.evaluate(RENDERED_OPERATIONS))
        assert rendered == expected
        # the last operation of the page opens like the first
        last = page.locator("#swagger-ui .opblock").last
        last.locator(".opblock-summary-control").click()
        expect(last.locator(".opblock-body")).to_be_visible()
        screenshot(page, "api-docs-offline")
        assert refused == []
        assert tab.failures == []
    finally:
        tab.context.close()


def test_map_draws_the_bundled_outline_without_tiles(server, browser):
    # the test server has no tile server (WATCHFLOOR_MAP_TILE_URL=""), and no other host answers
    tab, refused = offline_tab(browser, server, "supervisor")
    try:
        page = tab.page
        wait_until_rendered(page)
        expect(page.locator("#map")).to_have_attribute("data-outline", "drawn")
        countries = page.locator("#map path.outline--country")
        states = page.locator("#map path.outline--state")
        assert countries.count() > 150  # Natural Earth 1:110m admin-0
        assert states.count() == 51  # 50 states and DC
        # the outline is drawn under the markers, which stay clickable
        assert page.locator("#map path.site-marker, #map .site-cluster").count() > 0
        pane = page.locator(".leaflet-outline-pane")
        assert int(pane.evaluate("p => getComputedStyle(p).zIndex")) < 400
        screenshot(page, "overview-outline")
        assert refused == []
        assert tab.failures == []
    finally:
        tab.context.close()


def test_map_falls_back_to_the_outline_when_the_tile_server_is_unreachable(server, browser):
    """A tile URL is configured but nothing answers there: the first failed tile hands the map
    over to the outline. The shared test server has no tile URL, so the page's config gets one
    before its scripts run (readyState "interactive" comes before deferred and module scripts).
    The browser's own messages for the refused tiles are the only console errors allowed."""
    tab, refused = offline_tab(browser, server, "supervisor")
    page = tab.page
    page.add_init_script(
        """document.addEventListener("readystatechange", () => {
          const node = document.getElementById("overview-config");
          if (document.readyState !== "interactive" || !node) return;
          const config = JSON.parse(node.textContent);
          config.tiles.url = "http://tiles.invalid/{z}/{x}/{y}.png";
          node.textContent = JSON.stringify(config);
        });"""
    )
    try:
        page.goto(f"{server.url}/")
        wait_until_rendered(page)
        expect(page.locator("#map")).to_have_attribute("data-outline", "drawn")
        expect(page.locator("#map .leaflet-tile-pane img")).to_have_count(0)  # layer removed
        assert page.locator("#map path.outline--state").count() == 51
        assert refused and all(url.startswith("http://tiles.invalid/") for url in refused)
        others = [f for f in tab.failures if "Failed to load resource" not in f]
        assert others == []
    finally:
        tab.context.close()
