// One way the pages' scripts show a moment: in the person's chosen time zone, read from
// <body data-time-zone="Europe/Paris"> (their setting; empty when they chose none: then the
// browser's own zone), as "2026-12-04 03:15:09 CET".
//
//   import { formatTime } from "./time.js";
//   cell.textContent = formatTime(new Date(row.first_seen_at));
//   formatTime(date, { seconds: false }) → "2026-12-04 03:15 CET"

const formatters = new Map();

/** The person's zone: their setting, else the browser's (undefined lets Intl use it). */
export function personZone() {
  return document.body?.dataset.timeZone || undefined;
}

function formatterFor(zone, seconds) {
  const key = `${zone || ""}|${seconds}`;
  if (!formatters.has(key)) {
    const options = {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    };
    if (seconds) options.second = "2-digit";
    let formatter;
    try {
      formatter = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: zone });
    } catch (err) {
      formatter = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: "UTC" }); // unknown zone
    }
    formatters.set(key, formatter);
  }
  return formatters.get(key);
}

/** `date` (a Date, or anything Date accepts) as the person reads it; "" for no/invalid date. */
export function formatTime(date, { seconds = true } = {}) {
  if (date === null || date === undefined || date === "") return "";
  const when = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(when.getTime())) return "";
  const parts = {};
  for (const { type, value } of formatterFor(personZone(), seconds).formatToParts(when)) {
    parts[type] = value;
  }
  const time = `${parts.hour}:${parts.minute}${seconds ? `:${parts.second}` : ""}`;
  return `${parts.year}-${parts.month}-${parts.day} ${time} ${parts.timeZoneName}`;
}
