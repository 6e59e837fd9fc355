// The incidents pages' live part: listen on /ws/dashboard/ for `incident.created` and
// `incident.updated` (the receiver's scope and PII view are applied by the server) and re-read
// the page's body from the server when an event concerns it, coalesced, with htmx swapping it
// in (the view renders the body alone for an htmx request). A full reload if that fails.
import { LiveConnection } from "../live.js";

const INCIDENT_EVENTS = new Set(["incident.created", "incident.updated"]);

function setConnection(state, text) {
  const node = document.getElementById("connection");
  if (!node) return;
  node.dataset.state = state;
  node.querySelector(".connection__text").textContent = text;
}

/**
 * Watch incident events. `concerns(incident, type)` says whether an event's incident matters to
 * the page; `refresh()` re-reads it (called at most every `delayMs`, and after a reconnect).
 */
export function watchIncidents({ concerns, refresh, delayMs = 700 }) {
  let timer = null;
  const soon = () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      await refresh();
    }, delayMs);
  };
  const live = new LiveConnection("/ws/dashboard/", {
    onState: setConnection,
    onLive: (reconnect) => {
      if (reconnect) soon(); // whatever happened while away
    },
    onMessage: (message) => {
      if (message.type === "resync") {
        soon();
        return;
      }
      if (message.type !== "events") return;
      for (const event of message.events) {
        if (INCIDENT_EVENTS.has(event.type) && event.incident && concerns(event.incident, event.type)) {
          soon();
          return;
        }
      }
    },
  });
  live.start();
  return live;
}

/** Swap `selector` for the server's current copy of this page's body; reload when that fails. */
export async function swapBody(selector, url = window.location.href) {
  let failed = false;
  const onError = () => {
    failed = true;
  };
  document.body.addEventListener("htmx:responseError", onError, { once: true });
  document.body.addEventListener("htmx:sendError", onError, { once: true });
  try {
    await window.htmx.ajax("GET", url, { target: selector, swap: "outerHTML" });
  } catch (err) {
    failed = true;
  }
  document.body.removeEventListener("htmx:responseError", onError);
  document.body.removeEventListener("htmx:sendError", onError);
  if (failed || !document.querySelector(selector)) window.location.reload();
}
