// The maintenance line above the feed: a window in the current filter was scheduled, changed,
// cancelled, started or ended. Windows of clients or sites the filter leaves out are not shown.

import { dateTimeWithZone, rangeWithZone } from "./dom.js";

const WORDS = {
  "maintenance.created": "scheduled",
  "maintenance.updated": "changed",
  "maintenance.cancelled": "cancelled",
  "maintenance.started": "started",
  "maintenance.ended": "ended",
};

/**
 * Whether a window concerns what the overview shows. `scope`: `clientIds` (a Set, or null when
 * every client is shown) and, under a site-level filter, `siteIds` and `siteClientIds` (the
 * shown sites and their clients; null without one): a client-wide window covers the shown
 * sites of its client.
 */
export function windowInScope(w, { clientIds, siteIds, siteClientIds }) {
  if (clientIds && !clientIds.has(w.client_id)) return false;
  if (!siteIds) return true;
  return w.site_id === null || w.site_id === undefined ? siteClientIds.has(w.client_id) : siteIds.has(w.site_id);
}

/** The line for a window's event, its times in `zone` (the user's; "" = the browser's). */
export function windowLine(type, w, zone = "") {
  const when = type === "maintenance.ended" ? dateTimeWithZone(w.ends_at, zone) : rangeWithZone(w.starts_at, w.ends_at, zone);
  return `Maintenance “${w.title}” ${WORDS[type] || "changed"} (${when}).`;
}

/** Show the event's line if its window is in scope; false if it was left out. */
export function showWindow(line, event, scope, zone = "") {
  if (!windowInScope(event.window, scope)) return false;
  line.textContent = windowLine(event.type, event.window, zone);
  line.hidden = false;
  return true;
}
