// The map's background when it has no tiles (none configured, or the tile server unreachable, as
// on a closed network): a bundled outline of the countries and US states from Natural Earth
// (public domain; ../geo/README.md says where it comes from). Drawn in a pane of its own under
// the markers; its colours are CSS (.outline in overview.css), so it follows the theme.

const OUTLINE_URL = new URL("../geo/outline.json", import.meta.url);
let outline; // one download per page, however often the map asks

/** Draw the outline on `map` (a Leaflet map); resolves once it is drawn, or not available. */
export async function drawOutline(map) {
  const container = map.getContainer();
  container.classList.add("map--outline");
  if (!map.getPane("outline")) {
    map.createPane("outline").style.zIndex = 250; // above tiles (200), below markers (400)
  }
  outline ??= fetch(OUTLINE_URL).then((answer) => (answer.ok ? answer.json() : null));
  let shapes;
  try {
    shapes = await outline;
  } catch {
    shapes = null; // the sites still show on the plain background
  }
  if (!shapes) return;
  L.geoJSON(shapes, {
    pane: "outline",
    interactive: false,
    style: (feature) => ({ className: `outline outline--${feature.properties.kind}` }),
  }).addTo(map);
  container.dataset.outline = "drawn";
}
