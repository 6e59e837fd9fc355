// The overview map: one circle marker per site, coloured by its worst open alert; sites that
// would overlap on screen are drawn as one cluster (Leaflet.markercluster, vendored), coloured by
// the worst of its sites and labelled with their count, so a thousand sites read as a map and a
// critical site is never hidden under healthy neighbours. Leaflet (from the xstatic-leaflet
// package) and the cluster plugin are loaded as classic scripts before this module. Tiles come from
// the configured server; without one, or when it is unreachable, the map draws the bundled
// outline of countries and US states instead (outline.js), which is what an air-gapped
// operations room gets.

import { drawOutline } from "./outline.js";

const RADIUS = { critical: 9, high: 8, medium: 7, low: 6, info: 6, ok: 5 };
// worst first: a cluster takes the colour of the first level any of its sites has
const LEVELS = ["critical", "high", "medium", "low", "info", "ok"];
// pixels: sites closer than this on screen join one cluster (markercluster's default, 80, swallowed
// whole states at the national view; at 40 a city's sites still cluster)
const CLUSTER_RADIUS = 40;
const MAX_ZOOM = 18;

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
    // quarter zoom steps: a phone-wide map frames the 48 states instead of half the world. The
    // map's own maxZoom: the clusters are computed for every zoom level down from it, and
    // without tiles (the outline) Leaflet's would be unbounded
    this.map = L.map(node, {
      zoomControl: true,
      zoomSnap: 0.25,
      maxZoom: MAX_ZOOM,
      attributionControl: Boolean(tiles.url),
      worldCopyJump: true,
    });
    if (tiles.url) {
      const layer = L.tileLayer(tiles.url, { maxZoom: MAX_ZOOM, attribution: tiles.attribution });
      // the first tile that fails means the server is out of reach: the outline takes over
      layer.once("tileerror", () => {
        this.map.removeLayer(layer);
        drawOutline(this.map);
      });
      layer.addTo(this.map);
    } else {
      drawOutline(this.map);
    }
    this.layer = L.markerClusterGroup({
      maxClusterRadius: CLUSTER_RADIUS,
      showCoverageOnHover: false,
      // every site stays on the map, in view or not: the drill-down and the tests count them
      removeOutsideVisibleBounds: false,
      iconCreateFunction: clusterIcon,
    }).addTo(this.map);
    // a cluster names what it holds on hover, as a site's marker does: one tooltip of the map's,
    // closed when the pointer leaves or the zoom (a click) takes the cluster apart. From the
    // keyboard a cluster is a button (Tab, then Enter zooms in) whose name says the same.
    const tip = L.tooltip({ direction: "right", offset: [14, 0] });
    this.layer.on("clustermouseover", (e) => {
      const { count, open, worst } = clusterLevels(e.layer);
      const summary = `<strong>${count} sites</strong><br>${openLine(open, worst)}<br>`;
      tip.setLatLng(e.layer.getLatLng()).setContent(`${summary}<span class="muted">Click to zoom in</span>`).openOn(this.map);
    });
    const closeTip = () => this.map.closeTooltip(tip);
    this.layer.on("clustermouseout", closeTip);
    this.map.on("zoomstart", closeTip);
    this.map.on("tooltipopen", (e) => e.tooltip !== tip && closeTip()); // a site's own
    this.closeTip = closeTip;
    // the zoom level on the node: the browser tests wait on it after a cluster's click
    this.map.on("zoomend", () => {
      node.dataset.zoom = String(this.map.getZoom());
    });
    this.map.setView([39, -96], 4);
    this.fitted = "";
  }

  /** Replace the markers; `onPick(site)` drills down to a site. */
  show(sites, onPick) {
    this.onPick = onPick;
    const placed = sites.filter((s) => s.lat !== null && s.lon !== null);
    // a live refresh that changed nothing on the map leaves it alone: re-clustering every
    // marker would take a hovered or half-clicked cluster from under the pointer
    const drawn = JSON.stringify(placed.map(markerFacts));
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    this.layer.clearLayers();
    this.closeTip();
    const markers = [];
    const colours = severityColours();
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
        level,
        open: site.open || 0,
      });
      marker.bindTooltip(
        `<strong>${escape(site.code)}</strong> ${escape(site.name)}<br>${escape(site.client_name)} · ${escape(site.city)}<br>` +
          (site.open ? `${site.open} open, worst ${site.worst}` : "No open alert"),
      );
      marker.on("click", () => this.onPick(site));
      markers.push(marker);
    }
    this.layer.addLayers(markers); // one clustering pass for all of them
    // fit once per set of sites, so a live refresh does not move the map under the user's hand
    const key = placed.map((s) => s.code).join(",");
    if (placed.length && key !== this.fitted) {
      // at once, not animated: the view is final when the sites are (the browser tests read
      // the zoom before a cluster's click; an animated fit moved it under them)
      this.map.fitBounds(coreBounds(placed), { padding: [24, 24], maxZoom: 11, animate: false });
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

/** What a site's marker shows: the fields its position, colour and tooltip are drawn from. */
function markerFacts(site) {
  return [site.code, site.lat, site.lon, site.worst, site.open, site.name, site.client_name, site.city];
}

/** A cluster's icon: the count of its sites on the colour of the worst of them. The count and
 * the sites by level are on the label (`data-count`, `data-levels`) for the browser tests. */
function clusterIcon(cluster) {
  const { count, levels, open, worst } = clusterLevels(cluster);
  const size = count < 10 ? "small" : count < 100 ? "medium" : "large";
  const byLevel = LEVELS.filter((l) => levels[l]).map((l) => `${l}:${levels[l]}`).join(" ");
  // the number is what is seen; a screen reader reads the hidden line (the button's name)
  const said = `${count} sites: ${openLine(open, worst)}. Zoom in.`;
  return L.divIcon({
    html:
      `<span class="site-cluster__count" aria-hidden="true" data-count="${count}" data-levels="${byLevel}">${count}</span>` +
      `<span class="site-cluster__said">${said}</span>`,
    // the size's modifier is `size-…`: `site-cluster--medium` is the severity's colour
    className: `site-cluster site-cluster--${worst} site-cluster--size-${size}`,
    iconSize: L.point(...{ small: [30, 30], medium: [36, 36], large: [44, 44] }[size]),
  });
}

function clusterLevels(cluster) {
  const levels = {};
  let open = 0;
  for (const marker of cluster.getAllChildMarkers()) {
    levels[marker.options.level] = (levels[marker.options.level] || 0) + 1;
    open += marker.options.open;
  }
  return { count: cluster.getChildCount(), levels, open, worst: LEVELS.find((l) => levels[l]) || "ok" };
}

function openLine(open, worst) {
  return open ? `${open} open, worst ${worst.toUpperCase()}` : "No open alert";
}

function rank(severity) {
  return { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, INFO: 1 }[severity] || 0;
}

function escape(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
