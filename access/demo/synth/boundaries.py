"""Township and county polygons of the synthetic county, and their GeoJSON files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, box, mapping

from access.demo.synth.frame import COUNTY_CODE, COUNTY_NAME, ISLAND, TOWNSHIPS, Noise


def township_polygons(rng, fr, mainland, island):
    """Township polygons (lon/lat) tiling the county: warped Voronoi of the seats."""
    names = [n for n, _, _, _ in TOWNSHIPS if n != ISLAND]
    seeds = np.array([xy for n, _, xy, _ in TOWNSHIPS if n != ISLAND])
    frame = box(-60000, -60000, 60000, 60000)
    cells = list(shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame)))
    na, nb = Noise(rng, 4, 7000.0, 15000.0), Noise(rng, 4, 7000.0, 15000.0)

    def warp(c):
        return c + 550.0 * np.column_stack([na(c[:, 0], c[:, 1]), nb(c[:, 0], c[:, 1])])

    # Densify every Voronoi edge in one canonical direction so that the two
    # cells sharing it get bit-identical vertices, then bend all edges with
    # the same smooth displacement field: boundaries wiggle, tiling stays exact.
    def densify(ring):
        c = np.asarray(ring.coords)
        out = [c[0]]
        for a, b in zip(c[:-1], c[1:]):
            lo, hi = (a, b) if tuple(a) <= tuple(b) else (b, a)
            n = max(1, int(np.hypot(*(hi - lo)) / 200.0))
            t = np.linspace(0.0, 1.0, n + 1)[1:-1, None]
            pts = lo[None, :] + t * (hi - lo)[None, :]
            if lo is not a:
                pts = pts[::-1]
            out.extend(pts)
            out.append(b)
        return np.asarray(out)

    out = {}
    for i, n in enumerate(names):
        cell = next(c for c in cells if c.contains(Point(seeds[i])))
        g = Polygon(warp(densify(cell.exterior))).intersection(mainland)
        if g.geom_type != "Polygon":
            parts = sorted(shapely.get_parts(g), key=lambda q: -q.area)
            g = parts[0]
        out[n] = g
    # Pieces of the mainland cut off from their cell by a concave coast or the
    # warp are given to the township they touch most.
    rest = mainland.difference(shapely.unary_union(list(out.values())))
    for piece in shapely.get_parts(rest):
        if piece.area < 1.0:
            continue
        best = max(names, key=lambda n: out[n].boundary.intersection(piece.boundary).length)
        out[best] = shapely.unary_union([out[best], piece])
    out[ISLAND] = island
    ll = {}
    for n, _, _, _ in TOWNSHIPS:
        g = fr.geom_to_lonlat(out[n])
        if not g.is_valid:
            g = shapely.make_valid(g)
        assert g.geom_type == "Polygon", (n, g.geom_type)
        ll[n] = shapely.orient_polygons(g)
    return ll


def area_km2(fr, g_ll) -> float:
    def f(c):
        x, y = fr.to_xy(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(g_ll, f).area / 1e6


def geojson(features: list[dict], name: str) -> str:
    fc = {"type": "FeatureCollection", "name": name, "features": features}
    return json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_boundaries(out: Path, town_ll: dict, county_ll) -> None:
    feats = []
    for n, c, _, k in TOWNSHIPS:
        level = {"urban": "街道", "town": "镇", "xiang": "乡"}[k]
        feats.append({"type": "Feature",
                      "properties": {"code": COUNTY_CODE + c + "000", "name": n, "county_code": COUNTY_CODE,
                                     "urban": k == "urban", "level": level, "synthetic": True},
                      "geometry": mapping(town_ll[n])})
    (out / "townships.geojson").write_text(geojson(feats, "townships"), encoding="utf-8")
    county = shapely.orient_polygons(county_ll)
    feats = [{"type": "Feature",
              "properties": {"code": COUNTY_CODE, "name": COUNTY_NAME, "name_en": "Synthetic Demo County",
                             "synthetic": True},
              "geometry": mapping(county)}]
    (out / "counties.geojson").write_text(geojson(feats, "counties"), encoding="utf-8")
