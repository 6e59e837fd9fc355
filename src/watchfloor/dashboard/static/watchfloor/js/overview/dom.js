// Small DOM helpers shared by the overview's modules.

export const $ = (selector, root = document) => root.querySelector(selector);

/** `el("a", {href, text, onclick}, ...children)`: attributes, text, listeners, children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** "3 min ago" for an ISO time. */
export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

// (dateStyle/timeStyle cannot be combined with timeZoneName: the fields are spelled out)
const formats = new Map();

/** A date-and-time format naming its zone: `zone` (an IANA name), or the browser's for "". */
function withZone(zone) {
  if (!formats.has(zone)) {
    const options = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
    try {
      formats.set(zone, new Intl.DateTimeFormat(undefined, zone ? { ...options, timeZone: zone } : options));
    } catch {
      formats.set(zone, new Intl.DateTimeFormat(undefined, options)); // a zone this browser lacks
    }
  }
  return formats.get(zone);
}

/** A date and time with the zone's name ("Dec 6, 2026, 02:00 AM UTC"), in `zone` ("" = the browser's). */
export function dateTimeWithZone(iso, zone = "") {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : withZone(zone).format(when);
}

/** From–to with the zone's name ("Dec 6, 2026, 02:00 – 04:00 AM UTC"). */
export function rangeWithZone(fromIso, toIso, zone = "") {
  const from = new Date(fromIso);
  const to = new Date(toIso);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return "";
  const format = withZone(zone);
  return format.formatRange ? format.formatRange(from, to) : `${format.format(from)} – ${format.format(to)}`;
}
