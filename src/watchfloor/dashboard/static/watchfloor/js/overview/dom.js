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
const WITH_ZONE = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZoneName: "short",
});

/** A date and time in the browser's time zone, with the zone's name ("4 Dec 2026, 02:00 UTC"). */
export function dateTimeWithZone(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : WITH_ZONE.format(when);
}

/** From–to in the browser's time zone, with its name ("Dec 6, 2026, 02:00 – 04:00 AM UTC"). */
export function rangeWithZone(fromIso, toIso) {
  const from = new Date(fromIso);
  const to = new Date(toIso);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return "";
  return WITH_ZONE.formatRange ? WITH_ZONE.formatRange(from, to) : `${WITH_ZONE.format(from)} – ${WITH_ZONE.format(to)}`;
}
