// The incidents list: live. A new incident or a change to one re-reads the current page of the
// list (same filters and page) from the server. The filters start folded on a phone.
import { swapBody, watchIncidents } from "./live.js";

const filters = document.querySelector("[data-filters]");
if (filters && window.matchMedia("(max-width: 640px)").matches) filters.open = false;

function note(text) {
  const node = document.querySelector("[data-live-note]");
  if (node) node.textContent = text;
}

watchIncidents({
  // the server filters by scope; every created or updated incident may enter, leave or move
  // within the filtered page, so any of them re-reads it
  concerns: () => true,
  refresh: async () => {
    await swapBody("#incidents-body");
    const stamp = new Date().toLocaleTimeString();
    note(`Updated live at ${stamp}`);
    document.body.dataset.incidentsRefreshed = String(Number(document.body.dataset.incidentsRefreshed || 0) + 1);
  },
});
