// One incident's page: live. When this incident changes (an action here or elsewhere, an alert
// joining, the SLA job), its body is re-read from the server — unless a form in it is being
// filled in, then a line says so and the refresh waits until the form is left.
import { swapBody, watchIncidents } from "./live.js";

const root = document.getElementById("incident-detail");
const id = Number(root?.dataset.incidentId);

function typing() {
  const active = document.activeElement;
  if (!active || !root.contains(active)) return false;
  if (!active.matches("textarea, input:not([type=hidden]), select")) return false;
  return Boolean(active.value) || active.matches("select[multiple]");
}

let waiting = false;
async function refresh() {
  if (typing()) {
    if (!waiting) {
      waiting = true;
      root.addEventListener(
        "focusout",
        () => {
          waiting = false;
          setTimeout(refresh, 300);
        },
        { once: true },
      );
    }
    return;
  }
  await swapBody("#incident-body");
  document.body.dataset.incidentRefreshed = String(Number(document.body.dataset.incidentRefreshed || 0) + 1);
}

if (root) {
  watchIncidents({ concerns: (incident) => incident.id === id, refresh });
}
