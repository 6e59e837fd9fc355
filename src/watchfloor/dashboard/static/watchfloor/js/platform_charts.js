// The charts of the last hour on the platform pages: reads the sampled series from
// /platform/samples/ (columns: `t` in Unix seconds and one list per figure, null for a gap) and
// draws one small uPlot chart per figure named in data-series. uPlot is served from the package
// (static/vendor/uplot), loaded by a deferred classic script before this module runs.

const root = document.querySelector("[data-platform-charts]");

function formatValue(value, unit) {
  if (value == null) return "—";
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${rounded.toLocaleString()}${unit ? ` ${unit}` : ""}`;
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) {
    if (values[i] != null) return values[i];
  }
  return null;
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function draw(series, times, span) {
  const figure = document.createElement("figure");
  figure.className = "platform-chart";
  figure.dataset.series = series.key;
  const caption = document.createElement("figcaption");
  const label = document.createElement("span");
  label.textContent = series.label;
  const now = document.createElement("strong");
  now.textContent = formatValue(lastValue(series.values), series.unit);
  caption.append(label, now);
  figure.append(caption);
  root.append(figure);

  const muted = cssVar("--muted", "#777");
  const options = {
    width: Math.max(240, figure.clientWidth),
    height: 140,
    legend: { show: false },
    cursor: { y: false },
    scales: {
      // the whole window, however few samples there are yet (one sample would span years)
      x: { time: true, range: () => span },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      { stroke: muted, grid: { stroke: "rgba(127,127,127,0.15)" }, ticks: { show: false } },
      { stroke: muted, size: 48, grid: { stroke: "rgba(127,127,127,0.15)" }, ticks: { show: false } },
    ],
    series: [
      {},
      {
        label: series.label,
        stroke: cssVar("--accent"), // app.css always sets it: no colour copied here
        width: 1.5,
        spanGaps: false,
        value: (_u, v) => formatValue(v, series.unit),
      },
    ],
  };
  const chart = new window.uPlot(options, [times, series.values], figure);
  return { figure, chart };
}

async function load() {
  const status = root.querySelector("[data-charts-status]");
  if (typeof window.uPlot !== "function") {
    status.textContent = "The chart library did not load.";
    return;
  }
  let data;
  try {
    const response = await fetch(root.dataset.src, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    data = await response.json();
  } catch (error) {
    status.textContent = `The samples could not be read (${error.message}).`;
    return;
  }
  if (!data.t.length) {
    status.textContent = "No samples yet: the platform.sample job takes one every 30 s.";
    return;
  }
  status.remove();
  const wanted = new Set(root.dataset.series.split(","));
  const end = Math.max(Date.now() / 1000, data.t[data.t.length - 1]);
  const span = [end - data.minutes * 60, end];
  const charts = data.series.filter((s) => wanted.has(s.key)).map((s) => draw(s, data.t, span));
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const { figure, chart } of charts) {
        chart.setSize({ width: Math.max(240, figure.clientWidth), height: 140 });
      }
    });
  });
}

if (root) load();
