// The reports page: shows the custom dates only for a custom range, and draws the charts with
// the vendored uPlot (static/vendor/uplot, a deferred classic script loaded before this
// module) from the figures the server rendered into #report-data. The tables under each
// chart hold the same figures, so the page reads without JavaScript too.

const form = document.querySelector("[data-report-form]");
const rangeSelect = form?.querySelector("[data-range]");

function showCustom() {
  const custom = rangeSelect.value === "custom";
  for (const field of form.querySelectorAll("[data-custom]")) {
    field.hidden = !custom;
    for (const input of field.querySelectorAll("input")) input.disabled = !custom;
  }
}

if (form) {
  // empty filters stay out of the URL (and of the export link built from it)
  form.addEventListener("formdata", (event) => {
    for (const [name, value] of [...event.formData.entries()]) {
      if (value === "") event.formData.delete(name);
    }
  });
}

if (rangeSelect) {
  rangeSelect.addEventListener("change", () => {
    showCustom();
    if (rangeSelect.value !== "custom") form.requestSubmit();
  });
  showCustom();
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

// the series colours are CSS (reports.css, --chart-1 … --chart-9): one place for colours
function palette(i) {
  return cssVar(`--chart-${(i % 9) + 1}`, "gray");
}

function axes() {
  const muted = cssVar("--muted", "#777");
  const grid = { stroke: "rgba(127,127,127,0.15)" };
  return [
    { stroke: muted, grid, ticks: { show: false } },
    { stroke: muted, grid, ticks: { show: false }, size: 52 },
  ];
}

function width(el) {
  return Math.max(260, el.clientWidth - 16);
}

function drawTrend(el, trend) {
  const times = trend.days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const series = [{}, { label: "All", stroke: cssVar("--accent", palette(0)), width: 2 }];
  const data = [times, trend.total];
  trend.series.forEach((s, i) => {
    series.push({ label: s.type, stroke: palette(i + 1), width: 1.25 });
    data.push(s.counts);
  });
  return new window.uPlot(
    {
      width: width(el),
      height: 240,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: axes(),
      series,
    },
    data,
    el,
  );
}

function minutes(seconds) {
  return seconds == null ? null : Math.round((seconds / 60) * 10) / 10;
}

function drawSeverity(el, mtta, mttr) {
  const xs = mtta.map((_row, i) => i);
  const labels = mtta.map((row) => row[0]);
  const bars = window.uPlot.paths?.bars ? window.uPlot.paths.bars({ size: [0.35, 40] }) : undefined;
  return new window.uPlot(
    {
      width: width(el),
      height: 220,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axes()[0], values: (_u, ticks) => ticks.map((t) => labels[t] ?? ""), splits: () => xs },
        { ...axes()[1], label: "minutes" },
      ],
      series: [
        {},
        { label: "MTTA (min)", stroke: palette(0), fill: `${palette(0)}99`, paths: bars, points: { show: !bars } },
        { label: "MTTR (min)", stroke: palette(3), fill: `${palette(3)}99`, paths: bars, points: { show: !bars } },
      ],
    },
    [xs, mtta.map((row) => minutes(row[1])), mttr.map((row) => minutes(row[1]))],
    el,
  );
}

function drawAvailability(el, avail) {
  const times = avail.days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  return new window.uPlot(
    {
      width: width(el),
      height: 220,
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [axes()[0], { ...axes()[1], label: "percent" }],
      series: [
        {},
        { label: "Present %", stroke: palette(2), width: 2, spanGaps: false },
        { label: "Devices online %", stroke: palette(0), width: 2, spanGaps: false },
      ],
    },
    [times, avail.present, avail.online],
    el,
  );
}

function draw() {
  const source = document.getElementById("report-data");
  if (!source) return;
  const trendEl = document.querySelector('[data-report-chart="trend"]');
  const severityEl = document.querySelector('[data-report-chart="severity"]');
  const status = trendEl?.querySelector("[data-chart-status]");
  if (typeof window.uPlot !== "function") {
    if (status) status.textContent = "The chart library did not load; the tables below hold the figures.";
    return;
  }
  const data = JSON.parse(source.textContent);
  status?.remove();
  const charts = [];
  if (trendEl) charts.push([trendEl, drawTrend(trendEl, data.trend)]);
  if (severityEl) charts.push([severityEl, drawSeverity(severityEl, data.mtta, data.mttr)]);
  const availabilityEl = document.querySelector('[data-report-chart="availability"]');
  if (availabilityEl && data.availability) charts.push([availabilityEl, drawAvailability(availabilityEl, data.availability)]);
  for (const [el] of charts) el.dataset.drawn = "true";
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      for (const [el, chart] of charts) chart.setSize({ width: width(el), height: chart.height });
    }, 150);
  });
}

// modules run after deferred classic scripts, so uPlot is there unless it failed to load
draw();
