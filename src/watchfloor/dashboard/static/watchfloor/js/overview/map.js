// The map of sites and the drill-down table (client → site), drawn from /api/v1/overview/sites.

import { SiteMap } from "../sitemap.js";
import { $, el } from "./dom.js";

export class SitesView {
  /** `drill(next)`: apply a filter change (a client or a site picked on the map or the table). */
  constructor(mapNode, tiles, drill) {
    this.map = new SiteMap(mapNode, tiles);
    this.drill = drill;
    this.sites = [];
    this.clients = [];
  }

  /** The id of the site with `code` among the last ones shown (undefined if not shown). */
  siteId(code) {
    return this.sites.find((s) => s.code === code)?.id;
  }

  render(data, filters) {
    this.sites = data.sites;
    this.clients = data.clients;
    this.map.show(data.sites, (site) => this.drill({ ...filters, client: [site.client_code], site: site.code }));
    document.body.dataset.mapReady = "1";
    this.#renderDrill(data, filters);
    const total = data.sites.length;
    const clients = data.clients.length;
    $("#scope-line").textContent =
      `${total} site${total === 1 ? "" : "s"} of ${clients} client${clients === 1 ? "" : "s"} shown, live.`;
  }

  #link(text, next, attrs = {}) {
    return el("a", {
      href: "#",
      ...attrs,
      text,
      onclick: (e) => {
        e.preventDefault();
        this.drill(next);
      },
    });
  }

  #renderDrill(data, filters) {
    const crumbs = [this.#link("All clients", { ...filters, client: [], site: "" })];
    const oneClient = filters.client.length === 1 ? data.clients.find((c) => c.code === filters.client[0]) : null;
    if (oneClient) crumbs.push(el("span", { text: " › " }), this.#link(oneClient.name, { ...filters, site: "" }));
    if (filters.site) crumbs.push(el("span", { text: ` › ${filters.site}` }));
    $("#crumbs").replaceChildren(...crumbs);

    const drill = $("#drill");
    if (!oneClient && !filters.site) {
      const rows = data.clients.map((c) =>
        el("tr", {},
          el("th", { scope: "row" }, this.#link(c.name, { ...filters, client: [c.code], site: "" }, { href: `?client=${encodeURIComponent(c.code)}`, "data-client": c.code })),
          el("td", { class: "num", text: c.sites }),
          el("td", { class: "num", text: c.open }),
          el("td", {}, worstBadge(c.worst))));
      drill.replaceChildren(table(["Client", "Sites", "Open", "Worst"], rows));
      return;
    }
    const sites = data.sites.filter((s) => !filters.site || s.code === filters.site);
    const rows = sites.map((s) =>
      el("tr", {},
        el("th", { scope: "row" }, this.#link(`${s.code} · ${s.name}`, { ...filters, client: [s.client_code], site: s.code }, { "data-site": s.code })),
        el("td", { text: [s.city, s.state].filter(Boolean).join(", ") }),
        el("td", { text: s.officer || "–" }),
        el("td", { class: "num", text: s.open }),
        el("td", {}, worstBadge(s.worst))));
    drill.replaceChildren(table(["Site", "City", "Officer", "Open", "Worst"], rows));
  }
}

function worstBadge(severity) {
  return el("span", { class: `sev sev--${(severity || "ok").toLowerCase()}`, text: severity || "OK" });
}

function table(headings, rows) {
  const empty = el("tr", {}, el("td", { colspan: headings.length, class: "muted", text: "Nothing matches the filters." }));
  return el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...(rows.length ? rows : [empty])));
}
