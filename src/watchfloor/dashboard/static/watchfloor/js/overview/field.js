// The overview's field tiles: tickets, SLA breaches, attendance, work orders and devices from the
// newest KPI snapshot in the user's scope and the overview's filters (/api/v1/overview/field),
// each with a trend sparkline drawn as inline SVG (no library): the last hour, or the last 7 days
// when the overview's range is longer. With no snapshot yet the tiles say so (never zeros).
// Each tile links to the alerts page (tiles.js: linkTiles) filtered to the alerts its rules raise.

import { apiFetch } from "../http.js";
import { $, dateTimeWithZone } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 28;

const TITLES = {
  tickets: "open tickets",
  sla: "tickets past their SLA",
  attendance: "present share of expected (%)",
  work_orders: "overdue work orders",
  devices: "offline devices",
};

const pct = (value) => (value === null || value === undefined ? "–" : `${value}%`);

/** Each tile's value, note and whether it calls for attention, from the API's figures. */
function describe(f) {
  const t = f.tickets;
  const a = f.attendance;
  const d = f.devices;
  const byPriority = (counts) =>
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([p, n]) => `${p} ${n}`)
      .join(" · ") || "none by priority";
  return {
    tickets: { value: String(t.open), note: `${t.overdue} overdue`, alarm: false }, // the SLA tile flags them
    sla: { value: String(f.sla.breaches), note: byPriority(f.sla.by_priority), alarm: f.sla.breaches > 0 },
    attendance: {
      value: a.expected ? `${a.present} / ${a.expected}` : "0 / 0",
      note: `${pct(a.present_percent)} · ${a.late} late · ${a.missing} missing`,
      alarm: a.missing > 0,
    },
    work_orders: { value: String(f.work_orders.open), note: `${f.work_orders.overdue} overdue`, alarm: f.work_orders.overdue > 0 },
    devices: { value: `${d.offline} / ${d.total}`, note: `${pct(d.online_percent)} online`, alarm: d.offline > 0 },
  };
}

/** An inline SVG sparkline of `values` (null = no snapshot: a gap in the line). */
export function sparkline(values, title) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark__svg");
  const label = document.createElementNS(SVG, "title");
  label.textContent = title;
  svg.append(label);
  const known = values.filter((v) => v !== null && v !== undefined);
  if (!known.length) return svg;
  const max = Math.max(...known);
  const min = Math.min(...known, 0);
  const span = max - min || 1;
  const step = values.length > 1 ? WIDTH / (values.length - 1) : 0;
  let run = [];
  const flush = () => {
    if (!run.length) return;
    if (run.length === 1) {
      const dot = document.createElementNS(SVG, "circle");
      const [x, y] = run[0].split(",");
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      dot.setAttribute("r", "1.6");
      svg.append(dot);
    } else {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", run.join(" "));
      svg.append(line);
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null || v === undefined) return flush();
    const y = HEIGHT - 2 - ((v - min) / span) * (HEIGHT - 4);
    run.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`);
  });
  flush();
  return svg;
}

/** Draw an answer of /api/v1/overview/field into the tiles; times in `zone` ("" = the browser's). */
export function renderField(data, zone = "") {
  const section = $("#field-tiles");
  if (!section) return;
  const shown = data.figures ? describe(data.figures) : null;
  const span = data.range === "7d" ? "last 7 days" : "last hour";
  for (const tile of section.querySelectorAll("[data-field]")) {
    const name = tile.dataset.field;
    const info = shown ? shown[name] : null;
    tile.querySelector(".tile__value").textContent = info ? info.value : "–";
    tile.querySelector("[data-field-note]").textContent = info ? info.note : "no snapshot yet";
    tile.classList.toggle("kpi--alarm", Boolean(info && info.alarm));
    const spark = tile.querySelector("[data-spark]");
    spark.replaceChildren(sparkline(data.trends[name] || [], `Trend of ${TITLES[name]}, ${span}`));
  }
  $("#field-when").textContent = data.window_end
    ? `Snapshot of ${dateTimeWithZone(data.window_end, zone)} · trends over the ${span}`
    : "No KPI snapshot in your scope yet: the figures appear after the snapshot job's first run (every 5 minutes).";
  section.dataset.state = data.figures ? "ready" : "empty";
  section.setAttribute("aria-busy", "false");
}

/** The field tiles' answer for the overview's query string `qs` (its filters and range). */
export function loadField(qs) {
  return apiFetch(`/api/v1/overview/field?${qs}`);
}
