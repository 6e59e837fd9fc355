// The overview page: KPI tiles, the map, the drill-down and the live feed.
//
// Data comes from /api/v1/overview/{kpis,sites,feed} with the page's filters (the same calls on
// first load and on every resync) and then from the WebSocket: alert events update the feed at
// once; tiles and map are re-read shortly after a change (coalesced), and on the user's refresh
// interval. Filters live in the URL (and the last ones used in localStorage).

import { apiFetch, ApiError } from "./http.js";
import { LiveConnection } from "./live.js";
import { SiteMap } from "./sitemap.js";

const config = JSON.parse(document.getElementById("overview-config").textContent);
const caps = new Set(config.capabilities);
const prefs = { ...config.preferences };
const FILTER_KEYS = ["client", "city", "state", "officer", "site", "range"];
const STORAGE_KEY = "watchfloor.overview.filters";
const OPEN = new Set(["NEW", "ACKNOWLEDGED", "ASSIGNED", "ESCALATED"]);
const FEED_LIMIT = 200;
const SEVERITY_RANK = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3, INFO: 4 };

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

// --- filters ---------------------------------------------------------------------------------
let filters = initialFilters();
let shownSites = null; // site codes the filters leave (null: no site-level filter)

function initialFilters() {
  const params = new URLSearchParams(location.search);
  if (FILTER_KEYS.some((k) => params.has(k))) return fromParams(params);
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (stored) return normalise(stored);
  } catch {
    /* a broken entry: use the saved defaults */
  }
  return normalise(prefs.default_filters || {});
}

function normalise(raw) {
  return {
    client: Array.isArray(raw.client) ? raw.client.map(String) : raw.client ? [String(raw.client)] : [],
    city: raw.city || "",
    state: raw.state || "",
    officer: raw.officer ? String(raw.officer) : "",
    site: raw.site || "",
    range: raw.range || "",
  };
}

function fromParams(params) {
  return normalise({
    client: params.getAll("client").flatMap((v) => v.split(",")).filter(Boolean),
    city: params.get("city"),
    state: params.get("state"),
    officer: params.get("officer"),
    site: params.get("site"),
    range: params.get("range"),
  });
}

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const code of filters.client) params.append("client", code);
  for (const key of FILTER_KEYS.slice(1)) if (filters[key]) params.set(key, filters[key]);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params.toString();
}

function saveFilters(push) {
  const qs = query();
  const url = `${location.pathname}${qs ? `?${qs}` : ""}`;
  if (push) history.pushState(filters, "", url);
  else history.replaceState(filters, "", url);
  localStorage.setItem(STORAGE_KEY, JSON.stringify(filters));
}

function fillFilterForm() {
  const form = $("#filters");
  const fill = (select, items, keep) => {
    const current = keep ? [...select.options].slice(0, 1) : [];
    select.replaceChildren(...current, ...items);
  };
  fill(
    form.client,
    config.choices.clients.map((c) => el("option", { value: c.code, text: `${c.name} (${c.code})` })),
    false,
  );
  form.client.size = Math.min(4, Math.max(2, config.choices.clients.length));
  fill(form.state, config.choices.states.map((s) => el("option", { value: s, text: s })), true);
  fill(form.city, config.choices.cities.map((c) => el("option", { value: c, text: c })), true);
  fill(form.officer, config.choices.officers.map((o) => el("option", { value: o.id, text: o.name })), true);
  showFilters();
}

function showFilters() {
  const form = $("#filters");
  for (const option of form.client.options) option.selected = filters.client.includes(option.value);
  form.state.value = filters.state;
  form.city.value = filters.city;
  form.officer.value = filters.officer;
  form.range.value = filters.range;
  form.site.value = filters.site;
}

function applyFilters(next, push = true) {
  filters = normalise(next);
  showFilters();
  saveFilters(push);
  subscribe();
  resync();
}

// --- data --------------------------------------------------------------------------------------
const feed = new Map(); // alert id -> row
let siteMap;

async function resync() {
  // each part is drawn as soon as its own answer arrives: the tiles need not wait for the map
  const qs = query();
  const parts = [
    apiFetch(`/api/v1/overview/kpis?${qs}`).then(renderKpis),
    apiFetch(`/api/v1/overview/sites?${qs}`).then(renderSites),
    apiFetch(`/api/v1/overview/feed?${query({ limit: FEED_LIMIT })}`).then((rows) => {
      feed.clear();
      for (const row of rows.alerts) feed.set(row.id, row);
      renderFeed();
    }),
  ];
  const failed = (await Promise.allSettled(parts)).find((r) => r.status === "rejected");
  $("#feed-message").textContent = failed ? `Could not load: ${failed.reason.message}` : "";
}

// --- tiles -------------------------------------------------------------------------------------
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function renderKpis(k) {
  const set = (name, value) => {
    const tile = $(`[data-kpi="${name}"]`);
    if (tile) tile.querySelector(".tile__value").textContent = value;
  };
  set("open", k.open.total);
  for (const severity of ["CRITICAL", "HIGH", "MEDIUM"]) set(severity, k.open.by_severity[severity]);
  set("LOW", k.open.by_severity.LOW + k.open.by_severity.INFO);
  set("unacknowledged_overdue", k.unacknowledged_overdue);
  set("suppressed_maintenance", k.suppressed_maintenance);
  set("sites_with_critical", k.sites_with_critical);
  set("mtta", duration(k.mtta_today_seconds));
  set("mttr", duration(k.mttr_today_seconds));
  $('[data-note="acknowledged_today"]').textContent = `${k.acknowledged_today} acknowledged today`;
  $('[data-note="resolved_today"]').textContent = `${k.resolved_today} resolved today`;
  $('[data-kpi="unacknowledged_overdue"]').classList.toggle("kpi--alarm", k.unacknowledged_overdue > 0);
  $('[data-kpi="CRITICAL"]').classList.toggle("kpi--alarm", k.open.by_severity.CRITICAL > 0);
  $(".kpis").setAttribute("aria-busy", "false");
  document.body.dataset.tilesReady = "1";
}

// --- map and drill-down ----------------------------------------------------------------------
function renderSites(data) {
  const siteLevel = filters.client.length || filters.city || filters.state || filters.officer || filters.site;
  shownSites = siteLevel ? new Set(data.sites.map((s) => s.code)) : null;
  siteMap.show(data.sites, (site) => applyFilters({ ...filters, client: [site.client_code], site: site.code }));
  document.body.dataset.mapReady = "1";
  if (document.body.dataset.feedReady) renderFeed(); // the site filter may hide rows now
  renderDrill(data);
  const total = data.sites.length;
  $("#scope-line").textContent =
    `${total} site${total === 1 ? "" : "s"} of ${data.clients.length} client${data.clients.length === 1 ? "" : "s"} shown, live.`;
}

function worstBadge(severity) {
  return el("span", { class: `sev sev--${(severity || "ok").toLowerCase()}`, text: severity || "OK" });
}

function renderDrill(data) {
  const crumbs = [el("a", { href: "#", onclick: (e) => { e.preventDefault(); applyFilters({ ...filters, client: [], site: "" }); }, text: "All clients" })];
  const drill = $("#drill");
  const oneClient = filters.client.length === 1 ? data.clients.find((c) => c.code === filters.client[0]) : null;
  if (oneClient) {
    crumbs.push(el("span", { text: " › " }), el("a", { href: "#", onclick: (e) => { e.preventDefault(); applyFilters({ ...filters, site: "" }); }, text: oneClient.name }));
  }
  if (filters.site) crumbs.push(el("span", { text: ` › ${filters.site}` }));
  $("#crumbs").replaceChildren(...crumbs);

  if (!oneClient && !filters.site) {
    const rows = data.clients.map((c) =>
      el("tr", {},
        el("th", { scope: "row" }, el("a", { href: `?client=${encodeURIComponent(c.code)}`, "data-client": c.code, onclick: (e) => { e.preventDefault(); applyFilters({ ...filters, client: [c.code], site: "" }); }, text: c.name })),
        el("td", { class: "num", text: c.sites }),
        el("td", { class: "num", text: c.open }),
        el("td", {}, worstBadge(c.worst))));
    drill.replaceChildren(table(["Client", "Sites", "Open", "Worst"], rows));
    return;
  }
  const sites = data.sites.filter((s) => !filters.site || s.code === filters.site);
  const rows = sites.map((s) =>
    el("tr", {},
      el("th", { scope: "row" }, el("a", { href: "#", "data-site": s.code, onclick: (e) => { e.preventDefault(); applyFilters({ ...filters, client: [s.client_code], site: s.code }); }, text: `${s.code} · ${s.name}` })),
      el("td", { text: [s.city, s.state].filter(Boolean).join(", ") }),
      el("td", { text: s.officer || "–" }),
      el("td", { class: "num", text: s.open }),
      el("td", {}, worstBadge(s.worst))));
  drill.replaceChildren(table(["Site", "City", "Officer", "Open", "Worst"], rows));
}

function table(headings, rows) {
  return el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length, class: "muted", text: "Nothing matches the filters." }))])));
}

// --- feed ----------------------------------------------------------------------------------------
function inView(row) {
  if (!OPEN.has(row.status)) return false;
  if (shownSites) return row.site_code !== null && shownSites.has(row.site_code);
  return true;
}

function sortedRows() {
  return [...feed.values()]
    .filter(inView)
    .sort((a, b) => (b.last_seen_at > a.last_seen_at ? 1 : b.last_seen_at < a.last_seen_at ? -1 : b.id - a.id))
    .slice(0, FEED_LIMIT);
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function actionsFor(row) {
  const buttons = [];
  const add = (action, label) => buttons.push(el("button", { type: "button", class: "btn btn--ghost btn--small", "data-action": action, text: label }));
  if (caps.has("noc:ack_alerts") && (row.status === "NEW" || row.status === "ESCALATED") && !row.acknowledged_at) add("acknowledge", "Acknowledge");
  if (caps.has("noc:assign_incidents") && OPEN.has(row.status)) add("assign", "Assign");
  if (caps.has("noc:escalate") && OPEN.has(row.status)) add("escalate", "Escalate");
  if (caps.has("noc:ack_alerts")) add("resolve", "Resolve");
  return buttons;
}

function rowNode(row) {
  const where = [row.client_name, row.site_code && `${row.site_code} · ${row.site_name}`, [row.city, row.state].filter(Boolean).join(", ")].filter(Boolean).join(" — ");
  return el("li", { class: `alert-row alert-row--${row.severity.toLowerCase()}`, "data-alert-id": row.id, "data-status": row.status, "data-severity": row.severity },
    el("div", { class: "alert-row__main" },
      el("span", { class: `sev sev--${row.severity.toLowerCase()}`, text: row.severity }),
      el("a", { class: "alert-row__title", href: config.alert_url.replace("/0/", `/${row.id}/`), text: row.title }),
      el("p", { class: "alert-row__meta" },
        el("span", { class: "status", text: row.status.toLowerCase() }),
        ` ${row.type} · ${where || "no site"}`,
        row.occurrence_count > 1 ? el("span", { class: "count", text: ` ×${row.occurrence_count}` }) : null,
        row.assignee_name ? ` · assigned to ${row.assignee_name}` : "",
        " · ", el("time", { datetime: row.last_seen_at, text: ago(row.last_seen_at) }))),
    el("div", { class: "alert-row__actions" }, ...actionsFor(row)),
    el("div", { class: "alert-row__form", hidden: true }),
    el("p", { class: "alert-row__error", role: "alert" }));
}

function renderFeed() {
  const rows = sortedRows();
  const list = $("#feed");
  const existing = new Map([...list.children].map((li) => [li.dataset.alertId, li]));
  const nodes = rows.map((row) => {
    const old = existing.get(String(row.id));
    // keep a row whose inline form is open, so typing is never lost to an update
    if (old && !old.querySelector(".alert-row__form").hidden && old.dataset.status === row.status) return old;
    return rowNode(row);
  });
  list.replaceChildren(...nodes);
  $("#feed-count").textContent = `${rows.length} open${rows.length === FEED_LIMIT ? " (newest shown)" : ""}`;
  if (!rows.length) list.append(el("li", { class: "feed-empty", text: "No open alerts match the filters." }));
  document.body.dataset.feedReady = "1";
}

// --- actions -------------------------------------------------------------------------------------
async function act(li, action, body) {
  const id = Number(li.dataset.alertId);
  const error = li.querySelector(".alert-row__error");
  error.textContent = "";
  try {
    if (action === "acknowledge" && live.isOpen) {
      const reply = await live.request({ type: "alert.acknowledge", id });
      if (reply.type === "error") throw new Error(reply.message);
      patchRow(id, { status: reply.alert.status, acknowledged_at: new Date().toISOString() });
      return;
    }
    const alert = await apiFetch(`/api/v1/alerts/${id}/${action}`, { method: "POST", body });
    patchRow(id, { status: alert.status, acknowledged_at: alert.acknowledged_at, assignee_name: alert.assignee && (alert.assignee.full_name || alert.assignee.username) });
  } catch (err) {
    error.textContent = err instanceof ApiError ? Object.values(err.fields)[0] || err.message : err.message;
  }
}

function patchRow(id, changes) {
  const row = feed.get(id);
  if (row) feed.set(id, { ...row, ...changes });
  renderFeed();
  scheduleRefresh();
}

function openForm(li, action) {
  const form = li.querySelector(".alert-row__form");
  const fields = [];
  if (action === "assign") {
    fields.push(el("label", { class: "sr-only", for: `assignee-${li.dataset.alertId}`, text: "Assign to" }),
      el("select", { id: `assignee-${li.dataset.alertId}`, name: "assignee_id", required: true },
        el("option", { value: "", text: "Assign to…" }),
        ...config.choices.assignees.map((p) => el("option", { value: p.id, text: p.name }))));
  }
  const required = action === "resolve";
  fields.push(el("input", { name: "note", type: "text", maxlength: 2000, required, placeholder: required ? "How was it resolved?" : "Note (optional)", "aria-label": "Note" }));
  const submit = el("button", { type: "submit", class: "btn btn--primary btn--small", text: `Confirm ${action}` });
  const cancel = el("button", { type: "button", class: "btn btn--ghost btn--small", text: "Cancel", onclick: () => { form.hidden = true; } });
  const inner = el("form", { class: "inline-form", onsubmit: (e) => {
    e.preventDefault();
    const data = new FormData(e.target);
    const body = { note: data.get("note") || "" };
    if (action === "assign") body.assignee_id = Number(data.get("assignee_id"));
    form.hidden = true;
    act(li, action, body);
  } }, ...fields, submit, cancel);
  form.replaceChildren(inner);
  form.hidden = false;
  inner.querySelector("select, input").focus();
}

$("#feed").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const li = button.closest(".alert-row");
  if (button.dataset.action === "acknowledge") act(li, "acknowledge");
  else openForm(li, button.dataset.action);
});

// --- live updates --------------------------------------------------------------------------------
let refreshTimer = null;
let feedResyncTimer = null;

function scheduleRefresh(delay = 1500) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const qs = query();
    const [kpis, sites] = await Promise.allSettled([
      apiFetch(`/api/v1/overview/kpis?${qs}`),
      apiFetch(`/api/v1/overview/sites?${qs}`),
    ]);
    if (kpis.status === "fulfilled") renderKpis(kpis.value);
    if (sites.status === "fulfilled") renderSites(sites.value);
  }, delay);
}

function onMessage(message) {
  if (message.type === "events") {
    let changed = false;
    for (const event of message.events) {
      if (event.window) {
        announceWindow(event);
        changed = true;
        continue;
      }
      if (!event.alert) continue;
      const row = event.alert;
      feed.set(row.id, row);
      changed = true;
      if (event.type === "alert.created" && row.severity === "CRITICAL" && inView(row)) announce(row);
    }
    if (message.truncated) {
      clearTimeout(feedResyncTimer);
      feedResyncTimer = setTimeout(resync, 2000); // a storm: fetch the newest rows once it calms
    }
    if (changed) {
      trimFeed();
      renderFeed();
      scheduleRefresh();
    }
  } else if (message.type === "resync") {
    resync();
  } else if (message.type === "metrics") {
    renderKpis(message.kpis);
  }
}

const WINDOW_WORDS = {
  "maintenance.created": "scheduled",
  "maintenance.updated": "changed",
  "maintenance.cancelled": "cancelled",
  "maintenance.started": "started",
  "maintenance.ended": "ended",
};

function announceWindow(event) {
  const w = event.window;
  const when = new Date(event.type === "maintenance.ended" ? w.ends_at : w.starts_at);
  const line = $("#maintenance-line");
  line.textContent = `Maintenance “${w.title}” ${WINDOW_WORDS[event.type] || "changed"} (${when.toLocaleString()}).`;
  line.hidden = false;
}

function trimFeed() {
  for (const [id, row] of feed) if (!OPEN.has(row.status)) feed.delete(id);
  if (feed.size > FEED_LIMIT * 3) {
    const keep = new Set(sortedRows().map((r) => r.id));
    for (const id of feed.keys()) if (!keep.has(id)) feed.delete(id);
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

// --- critical alerts: sound and browser notification (opt-in, saved per user) -----------------
let audio;
function beep() {
  audio = audio || new AudioContext();
  const now = audio.currentTime;
  for (const [i, freq] of [880, 660, 880].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.18);
    osc.stop(now + i * 0.18 + 0.17);
  }
}

function announce(row) {
  if (prefs.critical_sound) {
    try {
      beep();
    } catch {
      /* the browser blocks audio until the page was used once */
    }
  }
  if (prefs.critical_browser_notification && "Notification" in window && Notification.permission === "granted") {
    const note = new Notification(`CRITICAL: ${row.title}`, { body: [row.client_name, row.site_code, row.type].filter(Boolean).join(" · "), tag: `alert-${row.id}` });
    note.onclick = () => { window.focus(); location.href = config.alert_url.replace("/0/", `/${row.id}/`); };
  }
}

function showToggles() {
  $("#toggle-sound").setAttribute("aria-pressed", String(Boolean(prefs.critical_sound)));
  $("#toggle-notify").setAttribute("aria-pressed", String(Boolean(prefs.critical_browser_notification)));
}

async function savePreference(key, value) {
  try {
    const saved = await apiFetch("/api/v1/me/dashboard-settings", { method: "PATCH", body: { [key]: value } });
    Object.assign(prefs, saved);
  } catch (err) {
    $("#feed-message").textContent = `Could not save the setting: ${err.message}`;
  }
  showToggles();
}

$("#toggle-sound").addEventListener("click", () => {
  const on = !prefs.critical_sound;
  if (on) beep(); // also unlocks audio for later alerts
  savePreference("critical_sound", on);
});

$("#toggle-notify").addEventListener("click", async () => {
  const on = !prefs.critical_browser_notification;
  if (on && "Notification" in window && Notification.permission !== "granted") {
    const answer = await Notification.requestPermission();
    if (answer !== "granted") {
      $("#feed-message").textContent = "The browser did not allow notifications for this site.";
      return;
    }
  }
  savePreference("critical_browser_notification", on);
});

// --- start ---------------------------------------------------------------------------------------
$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  applyFilters({
    client: [...form.client.selectedOptions].map((o) => o.value),
    city: form.city.value,
    state: form.state.value,
    officer: form.officer.value,
    range: form.range.value,
    site: "",
  });
});
$("#filters-clear").addEventListener("click", () => applyFilters({}));
window.addEventListener("popstate", () => applyFilters(fromParams(new URLSearchParams(location.search)), false));
setInterval(() => {
  for (const time of document.querySelectorAll("#feed time")) time.textContent = ago(time.getAttribute("datetime"));
}, 30000);
setInterval(() => scheduleRefresh(0), Math.max(5, prefs.refresh_seconds || 30) * 1000);

siteMap = new SiteMap($("#map"), config.tiles);
fillFilterForm();
showToggles();
saveFilters(false);
live.start();
resync();
