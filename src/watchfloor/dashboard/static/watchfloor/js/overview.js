// The overview page: KPI tiles, the map, the drill-down and the live feed. This module wires the
// parts in overview/ together: filters.js (URL, storage, form), tiles.js, field.js (the field
// tiles from the KPI snapshots), map.js (map and
// drill-down), feed.js (rows by key, order, selection), actions.js (buttons and inline forms),
// keys.js (keyboard), maintenance.js (the maintenance line) and critical.js (sound/notification).
//
// Data comes from /api/v1/overview/{kpis,sites,feed,field} with the page's filters (the same calls on
// first load and on every resync) and then from the WebSocket: alert events update the feed at
// once; tiles and map are re-read shortly after a change (coalesced), and on the user's refresh
// interval.

import { apiFetch } from "./http.js";
import { LiveConnection } from "./live.js";
import { FeedActions } from "./overview/actions.js";
import { loadField, renderField } from "./overview/field.js";
import { CriticalAlarm } from "./overview/critical.js";
import { $ } from "./overview/dom.js";
import { Feed, OPEN } from "./overview/feed.js";
import { loadIncidentTile } from "./overview/incidents.js";
import * as F from "./overview/filters.js";
import { bindKeys } from "./overview/keys.js";
import { showWindow } from "./overview/maintenance.js";
import { SitesView } from "./overview/map.js";
import { linkTiles, renderKpis } from "./overview/tiles.js";

const config = JSON.parse($("#overview-config").textContent);
const caps = new Set(config.capabilities);
const prefs = { ...config.preferences };
const choices = config.choices;
const FEED_LIMIT = 200;
const clientIds = new Map(choices.clients.map((c) => [c.code, c.id]));
const alertUrl = (id) => config.alert_url.replace("/0/", `/${id}/`);
const form = $("#filters");
const say = (text) => {
  $("#feed-message").textContent = text;
};

let filters = F.initialFilters(prefs.default_filters);
let generation = 0; // answers to an older set of filters are dropped
// the unfiltered tiles, map and feed answers the server held (views.home; any may be missing),
// carried in the page's HTML: the first load draws them at once when the filters are none and
// the feed's order and size are the page's defaults, asks for the missing ones, and re-reads
// tiles and map at once (they may be up to a minute old); any later load asks the API
let preloaded = JSON.parse($("#overview-preload")?.textContent || "null");
function takePreloaded() {
  const pre = preloaded;
  preloaded = null;
  const fits = pre && F.apiQuery(filters) === "" && pre.feed_sort === filters.sort && pre.feed_limit === FEED_LIMIT;
  return fits ? pre : null;
}

const sitesView = new SitesView($("#map"), config.tiles, (next) => applyFilters(next));
const feed = new Feed({
  list: $("#feed"),
  count: $("#feed-count"),
  announcer: $("#feed-announcer"),
  caps,
  alertUrl,
  seeAllUrl: () => alertsUrl({ status: [...OPEN].join(","), sort: filters.sort }),
  onShort: refillFeed,
  limit: FEED_LIMIT,
});
const alarm = new CriticalAlarm(prefs, alertUrl, say);

/** The alerts page (/alerts/) with the overview's filter and `extra` parameters. */
function alertsUrl(extra = {}) {
  const params = alertsBase();
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return `${config.alerts_url}?${params}`;
}

function alertsBase() {
  return F.alertsParams(filters, { clientId: (code) => clientIds.get(code), siteId: (code) => sitesView.siteId(code) });
}

const siteLevel = () => Boolean(filters.city || filters.state || filters.officer || filters.site);

// --- loading ----------------------------------------------------------------------------------

function showKpis(kpis) {
  renderKpis(kpis);
  feed.setTotal(kpis.open.total); // the feed's rows are the open alerts of the same filters
  linkTiles(config.alerts_url, alertsBase());
}

function showSites(data) {
  sitesView.render(data, filters);
  feed.setScope({
    clients: filters.client.length ? new Set(filters.client) : null,
    sites: siteLevel() ? new Set(data.sites.map((s) => s.code)) : null,
  });
  linkTiles(config.alerts_url, alertsBase());
}

let feedRequest = 0; // a newer request for the feed makes the answers to older ones moot
function loadFeed(given = null) {
  const request = ++feedRequest;
  const qs = F.apiQuery(filters, { limit: FEED_LIMIT, sort: filters.sort });
  const asked = given ? Promise.resolve(given) : apiFetch(`/api/v1/overview/feed?${qs}`);
  return asked.then((answer) => {
    if (request === feedRequest) feed.replace(answer.alerts, answer.total);
  });
}

async function resync() {
  // each part is drawn as soon as its own answer arrives: the tiles need not wait for the map
  const asOf = generation;
  const qs = F.apiQuery(filters);
  const current = (draw) => (data) => asOf === generation && draw(data);
  const pre = takePreloaded();
  const ask = (kind) => (pre?.[kind] ? Promise.resolve(pre[kind]) : apiFetch(`/api/v1/overview/${kind}?${qs}`));
  if (pre?.kpis || pre?.sites) scheduleRefresh();
  const parts = [
    ask("kpis").then(current(showKpis)),
    ask("sites").then(current(showSites)),
    loadFeed(pre?.feed),
    loadIncidentTile(),
    loadField(qs).then(current((data) => renderField(data, prefs.time_zone || ""))),
  ];
  const failed = (await Promise.allSettled(parts)).find((r) => r.status === "rejected");
  if (asOf === generation) say(failed ? `Could not load: ${failed.reason.message}` : "");
}

let refreshTimer = null;
function scheduleRefresh(delay = 1500) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const asOf = generation;
    const qs = F.apiQuery(filters);
    const [kpis, sites, field] = await Promise.allSettled([
      apiFetch(`/api/v1/overview/kpis?${qs}`),
      apiFetch(`/api/v1/overview/sites?${qs}`),
      loadField(qs),
    ]);
    if (asOf !== generation) return;
    if (kpis.status === "fulfilled") showKpis(kpis.value);
    if (sites.status === "fulfilled") showSites(sites.value);
    if (field.status === "fulfilled") renderField(field.value, prefs.time_zone || "");
    loadIncidentTile().catch(() => {}); // the tile keeps its figures; the next refresh retries
  }, delay);
}

// rows left the feed (resolved, say) while more match than it shows: fetch it again, at most
// every 10 s, so the feed fills up to its limit with what comes next
let refillTimer = null;
let lastRefill = 0;
function refillFeed() {
  if (refillTimer || Date.now() - lastRefill < 10000) return;
  refillTimer = setTimeout(() => {
    refillTimer = null;
    lastRefill = Date.now();
    loadFeed().catch((err) => say(`Could not load: ${err.message}`));
  }, 1000);
}

// --- filters ----------------------------------------------------------------------------------

function applyFilters(next, push = true) {
  filters = F.normalise(next);
  generation += 1;
  F.showForm(form, choices, filters);
  $("#feed-sort").value = filters.sort;
  feed.setOrder(filters.sort);
  // the new filter's sites are not known yet: the feed's own answer is filtered already
  feed.setScope({ clients: filters.client.length ? new Set(filters.client) : null, sites: null });
  F.saveFilters(filters, push);
  subscribe();
  resync();
}

F.fillForm(form, choices);
F.showForm(form, choices, filters);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  applyFilters(F.readForm(form, filters));
});
$("#filters-clear").addEventListener("click", () => applyFilters({ sort: filters.sort }));
window.addEventListener("popstate", () => applyFilters(F.fromParams(new URLSearchParams(location.search)), false));

const sortSelect = $("#feed-sort");
for (const [value, text] of Object.entries(F.SORTS)) sortSelect.add(new Option(text, value));
sortSelect.value = filters.sort;
sortSelect.addEventListener("change", () => {
  filters = { ...filters, sort: sortSelect.value };
  feed.setOrder(filters.sort);
  F.saveFilters(filters, true);
  loadFeed().catch((err) => say(`Could not load: ${err.message}`));
});

// --- live updates -----------------------------------------------------------------------------

function windowScope() {
  const sites = sitesView.sites;
  return {
    clientIds: filters.client.length ? new Set(filters.client.map((code) => clientIds.get(code))) : null,
    siteIds: siteLevel() ? new Set(sites.map((s) => s.id)) : null,
    siteClientIds: siteLevel() ? new Set(sites.map((s) => clientIds.get(s.client_code))) : null,
  };
}

let feedResyncTimer = null;
function onMessage(message) {
  if (message.type === "resync") {
    resync();
    return;
  }
  if (message.type !== "events") return;
  let changed = false;
  for (const event of message.events) {
    if (event.window) {
      if (showWindow($("#maintenance-line"), event, windowScope(), prefs.time_zone || "")) changed = true;
      continue;
    }
    if (event.incident) {
      changed = true; // an incident opened or changed: the SLA tile is re-read with the tiles
      continue;
    }
    if (!event.alert) continue;
    const row = event.alert;
    const inView = feed.upsert(row);
    changed = true;
    if (event.type === "alert.created" && row.severity === "CRITICAL" && inView) {
      alarm.ring(row);
      feed.announce(`New critical alert: ${row.title}`);
    }
  }
  if (message.truncated) {
    clearTimeout(feedResyncTimer);
    feedResyncTimer = setTimeout(resync, 2000); // a storm: fetch the feed again once it calms
  }
  if (changed) {
    feed.trim();
    feed.render();
    scheduleRefresh();
  }
}

function subscribe() {
  live.send({ type: "subscribe", clients: filters.client.length ? filters.client : "*" });
}

function setConnection(state, text) {
  const node = $("#connection");
  node.dataset.state = state;
  node.querySelector(".connection__text").textContent = text;
}

const live = new LiveConnection(config.ws_path, {
  onMessage,
  onState: setConnection,
  onLive: (reconnect) => {
    subscribe();
    if (reconnect) resync(); // whatever happened while away
  },
});

// --- actions and keys -------------------------------------------------------------------------

const actions = new FeedActions({
  feed,
  live,
  assignees: async (id) => (await apiFetch(`/api/v1/alerts/${id}/assignees`)).assignees,
  changed: () => scheduleRefresh(),
});
// why a key did nothing, for a few seconds
const hint = (text) => {
  say(text);
  setTimeout(() => $("#feed-message").textContent === text && say(""), 5000);
};
bindKeys({ feed, actions, search: form.client, help: $("#keys-help"), hint });
$("#keys-open").addEventListener("click", () => $("#keys-help").showModal());

// --- start --------------------------------------------------------------------------------------

setInterval(() => feed.tick(), 30000);
setInterval(() => scheduleRefresh(0), Math.max(5, prefs.refresh_seconds || 30) * 1000);
feed.setOrder(filters.sort);
F.saveFilters(filters, false);
live.start();
resync();
