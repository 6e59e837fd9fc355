// The live feed: open alerts in the operator's chosen order, updated row by row.
//
// Rows are keyed by alert id. A change inserts, moves, updates or removes only the rows it
// touches, so keyboard focus, an open inline form and a screen reader's place survive live
// events (the list is not an aria-live region; only a new CRITICAL alert is announced, politely,
// in a status line of its own). The feed shows at most `limit` rows and says how many open
// alerts match beyond them, with a link to the alerts page listing all of them.

import { $, ago, el } from "./dom.js";

export const OPEN = new Set(["NEW", "ACKNOWLEDGED", "ASSIGNED", "ESCALATED"]);
const SEVERITY_RANK = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3, INFO: 4 };
const ACTIONS = [
  ["acknowledge", "Acknowledge"],
  ["assign", "Assign"],
  ["escalate", "Escalate"],
  ["resolve", "Resolve"],
];

const signatures = new WeakMap(); // <li> -> the JSON of the row it shows (skip what did not change)
const time = (iso) => (iso ? Date.parse(iso) : 0);

/** The comparators of the orders the page offers; each breaks ties by id, like the API. */
export const ORDERS = {
  // most severe first, then the longest open (oldest first seen) first
  severity: (a, b) =>
    (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
    time(a.first_seen_at) - time(b.first_seen_at) ||
    a.id - b.id,
  "-last_seen": (a, b) => time(b.last_seen_at) - time(a.last_seen_at) || b.id - a.id,
  "-first_seen": (a, b) => time(b.first_seen_at) - time(a.first_seen_at) || b.id - a.id,
};

/** The buttons a row offers: what the user's capabilities and the alert's status allow. */
export function actionsFor(row, caps) {
  const open = OPEN.has(row.status);
  const allowed = {
    acknowledge: caps.has("noc:ack_alerts") && (row.status === "NEW" || row.status === "ESCALATED") && !row.acknowledged_at,
    assign: caps.has("noc:assign_incidents") && open,
    escalate: caps.has("noc:escalate") && open,
    resolve: caps.has("noc:ack_alerts") && open,
  };
  return ACTIONS.filter(([action]) => allowed[action]);
}

export class Feed {
  /**
   * `list`: the <ol>; `caps`: the user's capabilities; `alertUrl(id)`: an alert's page;
   * `seeAllUrl()`: the alerts page with the feed's filter and order; `onShort()`: the feed shows
   * fewer rows than match and than it could (rows left it): fetch it again.
   */
  constructor({ list, count, announcer, caps, alertUrl, seeAllUrl, onShort, limit = 200 }) {
    Object.assign(this, { list, count, announcer, caps, alertUrl, seeAllUrl, onShort, limit });
    this.rows = new Map(); // alert id -> row
    this.total = null; // open alerts matching the filters, as the server last counted them
    this.order = "severity";
    this.clients = null; // client codes the filter names (null: every client)
    this.sites = null; // site codes a site-level filter leaves (null: no such filter)
    this.selectedId = null;
    this.ready = false;
    list.addEventListener("focusin", (event) => {
      const li = event.target.closest(".alert-row");
      if (li) this.#select(li);
    });
  }

  // --- the data -----------------------------------------------------------------------------

  /** Everything the server answered (a first load or a resync). */
  replace(rows, total) {
    this.rows = new Map(rows.map((row) => [row.id, row]));
    this.total = total;
    this.ready = true;
    this.render();
  }

  /** A row from a live event; true when it is one the feed shows (open, in the filters). */
  upsert(row) {
    this.rows.set(row.id, row);
    return this.inView(row);
  }

  patch(id, changes) {
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, ...changes });
    this.render();
  }

  setTotal(total) {
    this.total = total;
    if (this.ready) this.render();
  }

  /** Which live rows belong: `clients`/`sites` are Sets of codes, or null for no such filter. */
  setScope({ clients, sites }) {
    this.clients = clients;
    this.sites = sites;
    if (this.ready) this.render();
  }

  setOrder(order) {
    this.order = order in ORDERS ? order : "severity";
    if (this.ready) this.render();
  }

  inView(row) {
    if (!OPEN.has(row.status)) return false;
    if (this.clients && !this.clients.has(row.client_code)) return false;
    if (this.sites) return row.site_code !== null && this.sites.has(row.site_code);
    return true;
  }

  /** The rows to show, in order (every matching row this page holds, not yet cut at `limit`). */
  ordered() {
    return [...this.rows.values()].filter((row) => this.inView(row)).sort(ORDERS[this.order]);
  }

  /** Forget closed rows, and rows far below the shown ones (a storm must not grow the page). */
  trim() {
    for (const [id, row] of this.rows) if (!OPEN.has(row.status)) this.rows.delete(id);
    if (this.rows.size > this.limit * 3) {
      const keep = new Set(this.ordered().slice(0, this.limit * 2).map((r) => r.id));
      for (const id of this.rows.keys()) if (!keep.has(id)) this.rows.delete(id);
    }
  }

  // --- the list -------------------------------------------------------------------------------

  render() {
    const matching = this.ordered();
    const shown = matching.slice(0, this.limit);
    const focus = this.#focusState();
    const existing = new Map();
    for (const li of this.list.querySelectorAll(":scope > .alert-row")) existing.set(li.dataset.alertId, li);

    const nodes = shown.map((row) => {
      const li = existing.get(String(row.id));
      if (!li) return this.#create(row);
      existing.delete(String(row.id));
      this.#update(li, row);
      return li;
    });
    for (const li of existing.values()) li.remove();
    this.list.querySelector(":scope > .feed-empty")?.remove();
    // put each row in its place, moving only the ones out of place
    nodes.forEach((li, index) => {
      const current = this.list.children[index];
      if (current !== li) this.list.insertBefore(li, current || null);
    });
    if (!nodes.length) this.list.append(el("li", { class: "feed-empty", text: "No open alerts match the filters." }));
    this.#restoreFocus(focus);
    this.#renderCount(shown.length, matching.length);
    document.body.dataset.feedReady = "1";
  }

  #renderCount(shown, held) {
    // the server's count may lag a live event by a moment: never say fewer than the page holds
    const total = Math.max(this.total ?? 0, held);
    const parts = [];
    if (total > shown) {
      parts.push(`${shown} of ${total} shown — `, el("a", { href: this.seeAllUrl(), text: "see all" }));
      if (held < Math.min(this.limit, total)) this.onShort();
    } else {
      parts.push(`${total} open`);
    }
    this.count.replaceChildren(...parts);
  }

  /** Re-read the relative times ("3 min ago"). */
  tick() {
    for (const node of this.list.querySelectorAll("time")) node.textContent = ago(node.getAttribute("datetime"));
  }

  /** Say a line once to assistive technology (polite), e.g. a new CRITICAL alert. */
  announce(text) {
    this.announcer.textContent = "";
    // a fresh text node after a tick, so the same words twice are announced twice
    setTimeout(() => {
      this.announcer.textContent = text;
    }, 50);
  }

  #create(row) {
    const li = el("li", { class: "alert-row", tabindex: "-1" },
      el("div", { class: "alert-row__main" },
        el("span", { class: "sev" }),
        el("a", { class: "alert-row__title" }),
        el("p", { class: "alert-row__meta" })),
      el("div", { class: "alert-row__actions" }),
      el("div", { class: "alert-row__form", hidden: true }),
      el("p", { class: "alert-row__error", role: "alert" }));
    this.#update(li, row);
    return li;
  }

  #update(li, row) {
    const signature = JSON.stringify(row);
    if (signatures.get(li) === signature) return;
    signatures.set(li, signature);
    const level = row.severity.toLowerCase();
    li.className = `alert-row alert-row--${level}${String(row.id) === String(this.selectedId) ? " alert-row--selected" : ""}`;
    li.dataset.alertId = row.id;
    li.dataset.status = row.status;
    li.dataset.severity = row.severity;
    const pill = li.querySelector(".sev");
    pill.className = `sev sev--${level}`;
    pill.textContent = row.severity;
    const title = li.querySelector(".alert-row__title");
    title.textContent = row.title;
    title.href = this.alertUrl(row.id);
    li.querySelector(".alert-row__meta").replaceChildren(...meta(row));
    this.#updateActions(li, row);
  }

  /** Keep the buttons that stay (one of them may have focus), add and remove the others. */
  #updateActions(li, row) {
    const box = li.querySelector(".alert-row__actions");
    const wanted = actionsFor(row, this.caps);
    const have = new Map([...box.children].map((b) => [b.dataset.action, b]));
    const buttons = wanted.map(([action, label]) => {
      const button = have.get(action) || el("button", { type: "button", class: "btn btn--ghost btn--small", "data-action": action, text: label });
      have.delete(action);
      return button;
    });
    for (const button of have.values()) button.remove();
    buttons.forEach((button, index) => {
      if (box.children[index] !== button) box.insertBefore(button, box.children[index] || null);
    });
    const form = li.querySelector(".alert-row__form");
    if (!form.hidden && !wanted.some(([action]) => action === form.dataset.action)) form.hidden = true;
  }

  // --- selection and focus ------------------------------------------------------------------

  /** The selected row's <li> (the one j/k moved to, or that holds focus), if still shown. */
  selected() {
    if (this.selectedId === null) return null;
    return this.list.querySelector(`:scope > .alert-row[data-alert-id="${this.selectedId}"]`);
  }

  /** Move the selection `step` rows (1 = down, -1 = up) and focus that row. */
  move(step) {
    const rows = [...this.list.querySelectorAll(":scope > .alert-row")];
    if (!rows.length) return null;
    const index = rows.indexOf(this.selected());
    const next = index === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
    rows[next].focus();
    rows[next].scrollIntoView({ block: "nearest" });
    return rows[next];
  }

  #select(li) {
    if (String(this.selectedId) === li.dataset.alertId) return;
    this.selected()?.classList.remove("alert-row--selected");
    this.selected()?.removeAttribute("aria-current");
    this.selectedId = li.dataset.alertId;
    li.classList.add("alert-row--selected");
    li.setAttribute("aria-current", "true");
  }

  #focusState() {
    const active = document.activeElement;
    if (!active || !this.list.contains(active)) return null;
    const li = active.closest(".alert-row");
    const rows = [...this.list.querySelectorAll(":scope > .alert-row")];
    return { active, id: li?.dataset.alertId, index: rows.indexOf(li) };
  }

  /** Focus stays where it was; if its button or row went away, it goes to the row (or the
   *  row now in its place), never to the page's top. */
  #restoreFocus(state) {
    if (!state) return;
    if (state.active.isConnected) {
      if (document.activeElement !== state.active) state.active.focus({ preventScroll: true });
      return;
    }
    const rows = [...this.list.querySelectorAll(":scope > .alert-row")];
    const same = rows.find((li) => li.dataset.alertId === state.id);
    const target = same || rows[Math.min(state.index, rows.length - 1)];
    if (target) target.focus({ preventScroll: true });
  }
}

function meta(row) {
  const place = [
    row.client_name,
    row.site_code && `${row.site_code} · ${row.site_name}`,
    [row.city, row.state].filter(Boolean).join(", "),
  ].filter(Boolean).join(" — ");
  return [
    el("span", { class: "status", text: row.status.toLowerCase() }),
    ` ${row.type} · ${place || "no site"}`,
    row.occurrence_count > 1 ? el("span", { class: "count", text: ` ×${row.occurrence_count}` }) : null,
    row.assignee_name ? ` · assigned to ${row.assignee_name}` : "",
    " · ",
    el("time", { datetime: row.last_seen_at, text: ago(row.last_seen_at) }),
  ].filter((part) => part !== null && part !== "");
}

export const feedNodes = () => ({ list: $("#feed"), count: $("#feed-count"), announcer: $("#feed-announcer") });
