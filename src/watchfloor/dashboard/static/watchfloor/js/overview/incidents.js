// The overview's SLA tile: open incidents in the user's scope, how many are at risk (past 75 %
// of a target) and how many breached; each figure links to the incidents page filtered to it.
import { apiFetch } from "../http.js";
import { $ } from "./dom.js";

export async function loadIncidentTile() {
  const tile = $("[data-incident-tile]");
  if (!tile) return;
  const counts = await apiFetch("/api/v1/overview/incidents");
  for (const name of ["open", "at_risk", "breached"]) {
    const node = tile.querySelector(`[data-incident-count="${name}"]`);
    if (node) node.textContent = String(counts[name]);
  }
  tile.classList.toggle("kpi--alarm", counts.breached > 0);
  tile.dataset.ready = "1";
}
