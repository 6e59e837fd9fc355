// The overview map: one circle marker per site, coloured by its worst open alert. Leaflet (from
// the xstatic-leaflet package) is loaded as a classic script before this module. Tiles come from
// the configured server; without one, or when it is unreachable, the map draws the bundled
// outline of countries and US states instead (outline.js), which is what an air-gapped
// operations room gets.

import { drawOutline } from "./outline.js";

const RADIUS = { critical: 9, high: 8, medium: 7, low: 6, info: 6, ok: 5 };

/** The severity colours of app.css (the one set; --sev-critical …), for the markers' fill. */
function severityColours() {
  const style = getComputedStyle(document.documentElement);
  const colour = (name) => style.getPropertyValue(`--sev-${name}`).trim();
  return {
    critical: colour("critical"),
    high: colour("high"),
    medium: colour("medium"),
    low: colour("low"),
    info: colour("low"), // the legend shows low and info as one colour
    ok: colour("ok"),
  };
}

export class SiteMap {
  constructor(node, tiles) {
    // quarter zoom steps: a phone-wide map frames the 48 states instead of half the world
    this.map = L.map(node, { zoomControl: true, zoomSnap: 0.25, attributionControl: Boolean(tiles.url), worldCopyJump: true });
    if (tiles.url) {
      const layer = L.tileLayer(tiles.url, { maxZoom: 18, attribution: tiles.attribution });
      // the first tile that fails means the server is out of reach: the outline takes over
      layer.once("tileerror", () => {
        this.map.removeLayer(layer);
        drawOutline(this.map);
      });
      layer.addTo(this.map);
    } else {
      drawOutline(this.map);
    }
    this.layer = L.featureGroup().addTo(this.map);
    this.map.setView([39, -96], 4);
    this.fitted = "";
  }

  /** Replace the markers; `onPick(site)` drills down to a site. */
  show(sites, onPick) {
    this.layer.clearLayers();
    const colours = severityColours();
    const placed = sites.filter((s) => s.lat !== null && s.lon !== null);
    // worst last, so a critical site is drawn on top of its healthy neighbours
    placed.sort((a, b) => rank(a.worst) - rank(b.worst));
    for (const site of placed) {
      const level = (site.worst || "ok").toLowerCase();
      const marker = L.circleMarker([site.lat, site.lon], {
        radius: RADIUS[level],
        weight: 1.5,
        fillColor: colours[level],
        fillOpacity: 0.9,
        className: `site-marker site-marker--${level}`,
      });
      marker.bindTooltip(
        `<strong>${escape(site.code)}</strong> ${escape(site.name)}<br>${escape(site.client_name)} · ${escape(site.city)}<br>` +
          (site.open ? `${site.open} open, worst ${site.worst}` : "No open alert"),
      );
      marker.on("click", () => onPick(site));
      marker.addTo(this.layer);
    }
    // fit once per set of sites, so a live refresh does not move the map under the user's hand
    const key = placed.map((s) => s.code).join(",");
    if (placed.length && key !== this.fitted) {
      this.map.fitBounds(coreBounds(placed), { padding: [24, 24], maxZoom: 11 });
      this.fitted = key;
    }
  }
}

/**
 * The bounds of most sites: with many sites, a few far away (Anchorage, Honolulu) would shrink
 * everyone else to a corner, so the view frames the 3rd to 97th percentile of each coordinate;
 * the outliers are still on the map, one drag or zoom away.
 */
function coreBounds(sites) {
  const pick = (values, q) => values[Math.min(values.length - 1, Math.floor(q * values.length))];
  const lats = sites.map((s) => s.lat).sort((a, b) => a - b);
  const lons = sites.map((s) => s.lon).sort((a, b) => a - b);
  const q = sites.length > 20 ? 0.03 : 0;
  return L.latLngBounds([pick(lats, q), pick(lons, q)], [pick(lats, 1 - q - 1e-9), pick(lons, 1 - q - 1e-9)]);
}

function rank(severity) {
  return { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, INFO: 1 }[severity] || 0;
}

function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
