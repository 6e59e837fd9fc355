// The KPI tiles: their figures, and each tile a link to the alerts page with the same filter
// (the CRITICAL tile lists the open CRITICAL alerts the tile counts).

import { $ } from "./dom.js";

const OPEN = "NEW,ACKNOWLEDGED,ASSIGNED,ESCALATED";

/** What each tile counts, as the alerts page's parameters (added to the overview's filter). */
const TILE_FILTERS = {
  open: { status: OPEN },
  CRITICAL: { status: OPEN, severity: "CRITICAL" },
  HIGH: { status: OPEN, severity: "HIGH" },
  MEDIUM: { status: OPEN, severity: "MEDIUM" },
  LOW: { status: OPEN, severity: "LOW,INFO" },
  unacknowledged_overdue: { overdue: "true" },
  suppressed_maintenance: { status: "SUPPRESSED" },
  sites_with_critical: { status: OPEN, severity: "CRITICAL" },
  mtta: { status: "RESOLVED", today: true },
  mttr: { status: "RESOLVED", today: true },
  // the field tiles (field.js) point at the open alerts their rules raise
  field_tickets: { status: OPEN, type: "SLA_BREACH,TICKET_ESCALATED" },
  field_sla: { status: OPEN, type: "SLA_BREACH" },
  field_attendance: { status: OPEN, type: "ATTENDANCE_MISSING,ATTENDANCE_ANOMALY,GEOFENCE_BREACH" },
  field_work_orders: { status: OPEN, type: "WORK_ORDER_OVERDUE" },
  field_devices: { status: OPEN, type: "DEVICE_OFFLINE,DEVICE_SPOOF,SYNC_DEGRADED" },
};

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Midnight UTC of today: "today" of the MTTA/MTTR tiles (as the server counts it). */
function startOfDay(now) {
  const day = new Date(now);
  day.setUTCHours(0, 0, 0, 0);
  return day;
}

/** Point every tile at the alerts page: `base` is the overview's filter as its parameters. */
export function linkTiles(alertsUrl, base, now = Date.now()) {
  for (const [name, wanted] of Object.entries(TILE_FILTERS)) {
    const tile = $(`[data-kpi="${name}"]`);
    if (!tile) continue;
    const params = new URLSearchParams(base);
    for (const [key, value] of Object.entries(wanted)) if (key !== "today") params.set(key, value);
    if (wanted.today) {
      const midnight = startOfDay(now);
      const since = params.get("since");
      if (!since || Date.parse(since) < midnight.getTime()) params.set("since", midnight.toISOString());
    }
    tile.setAttribute("href", `${alertsUrl}?${params}`);
  }
}

export function renderKpis(k) {
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
