// The overview's filters: client codes, city, state, officer in charge, one site, a time range,
// and the feed's order. They live in the page URL (bookmarkable, back/forward) and the last ones
// used in localStorage; the user's saved defaults apply when neither has any.

import { el } from "./dom.js";

const PLACE_KEYS = ["city", "state", "officer", "site", "range"];
const STORAGE_KEY = "watchfloor.overview.filters";
export const SORTS = {
  severity: "Most severe, oldest first",
  "-last_seen": "Latest activity first",
  "-first_seen": "Newest first",
};
export const DEFAULT_SORT = "severity";
const RANGE_HOURS = { "1h": 1, "6h": 6, "24h": 24, "7d": 168, "30d": 720 };

export function normalise(raw = {}) {
  return {
    client: Array.isArray(raw.client) ? raw.client.map(String) : raw.client ? [String(raw.client)] : [],
    city: raw.city || "",
    state: raw.state || "",
    officer: raw.officer ? String(raw.officer) : "",
    site: raw.site || "",
    range: raw.range || "",
    sort: raw.sort in SORTS ? raw.sort : DEFAULT_SORT,
  };
}

export function fromParams(params) {
  return normalise({
    client: params.getAll("client").flatMap((v) => v.split(",")).filter(Boolean),
    city: params.get("city"),
    state: params.get("state"),
    officer: params.get("officer"),
    site: params.get("site"),
    range: params.get("range"),
    sort: params.get("sort"),
  });
}

/** The filters this page starts with: the URL's, else the last ones used, else the saved defaults. */
export function initialFilters(defaults) {
  const params = new URLSearchParams(location.search);
  if (["client", ...PLACE_KEYS, "sort"].some((k) => params.has(k))) return fromParams(params);
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (stored) return normalise(stored);
  } catch {
    /* a broken entry: use the saved defaults */
  }
  return normalise(defaults || {});
}

/** The overview API's query string for `filters` (the feed adds `sort` and `limit`). */
export function apiQuery(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const code of filters.client) params.append("client", code);
  for (const key of PLACE_KEYS) if (filters[key]) params.set(key, filters[key]);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params.toString();
}

/** Put `filters` in the URL (a new history entry when `push`) and in localStorage. */
export function saveFilters(filters, push) {
  const qs = apiQuery(filters, filters.sort === DEFAULT_SORT ? {} : { sort: filters.sort });
  const url = `${location.pathname}${qs ? `?${qs}` : ""}`;
  if (push) history.pushState(filters, "", url);
  else history.replaceState(filters, "", url);
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(filters));
  } catch {
    /* storage full or disabled: the URL still holds them */
  }
}

/**
 * The alerts page's parameters for what the overview shows under `filters` (docs/api.md, the
 * alert list): client and site as ids, the time range as `since`. `clientId`/`siteId`
 * turn codes into ids.
 */
export function alertsParams(filters, { clientId, siteId }, now = Date.now()) {
  const params = new URLSearchParams();
  const clients = filters.client.map(clientId).filter((id) => id !== undefined);
  if (filters.client.length) params.set("client", clients.length ? clients.join(",") : "0");
  if (filters.site) params.set("site", siteId(filters.site) ?? "0");
  for (const key of ["city", "state", "officer"]) if (filters[key]) params.set(key, filters[key]);
  if (filters.range) params.set("since", new Date(now - RANGE_HOURS[filters.range] * 3600e3).toISOString());
  return params;
}

// --- the form ------------------------------------------------------------------------------

/** Fill the filter form's choices once (`choices`: the page config's). */
export function fillForm(form, choices) {
  const options = (items) => items.map(([value, text]) => el("option", { value, text }));
  form.client.replaceChildren(...options(choices.clients.map((c) => [c.code, `${c.name} (${c.code})`])));
  form.client.size = Math.min(4, Math.max(2, choices.clients.length));
  form.state.append(...options(choices.states.map((s) => [s, s])));
  form.officer.append(...options(choices.officers.map((o) => [o.id, o.name])));
  form.state.addEventListener("change", () => narrowCities(form, choices, form.state.value));
}

/**
 * The city list offers only the cities of the chosen state (all of them without one); a chosen
 * city of another state is let go.
 */
export function narrowCities(form, choices, state, keep = form.city.value) {
  const wanted = state.toLowerCase();
  const places = choices.places || choices.cities.map((city) => ({ city, state: "" }));
  const cities = [...new Set(places.filter((p) => !wanted || p.state.toLowerCase() === wanted).map((p) => p.city))];
  cities.sort((a, b) => a.localeCompare(b));
  const first = form.city.options[0];
  form.city.replaceChildren(first, ...cities.map((c) => el("option", { value: c, text: c })));
  form.city.value = cities.includes(keep) ? keep : "";
}

export function showForm(form, choices, filters) {
  for (const option of form.client.options) option.selected = filters.client.includes(option.value);
  form.state.value = filters.state;
  narrowCities(form, choices, filters.state, filters.city);
  form.officer.value = filters.officer;
  form.range.value = filters.range;
  form.site.value = filters.site;
}

export function readForm(form, current) {
  return normalise({
    ...current,
    client: [...form.client.selectedOptions].map((o) => o.value),
    city: form.city.value,
    state: form.state.value,
    officer: form.officer.value,
    range: form.range.value,
    site: "",
  });
}
