"""Writers of the synthetic county's files: PBF, GeoTIFF, GeoJSON, CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from access.demo.synth.frame import NODATA, NORTH, RES, STUDY_NAME, WEST
from access.demo.synth.roads import Net

def write_pbf(path: Path, net: Net, lonlat: np.ndarray) -> None:
    import osmium
    from osmium.osm.mutable import Node, Way

    if path.exists():
        path.unlink()
    used = sorted({n for w in net.ways for n in w.nodes})
    hdr = osmium.io.Header()
    hdr.set("generator", "access.demo.synth (synthetic data)")
    lo, la = lonlat[used, 0], lonlat[used, 1]
    hdr.add_box(osmium.osm.Box(osmium.osm.Location(float(lo.min()), float(la.min())),
                               osmium.osm.Location(float(lo.max()), float(la.max()))))
    meta = dict(version=1, timestamp="2026-01-01T00:00:00Z", changeset=1, uid=1, user="synthetic")
    base_n, base_w = 1_000_001, 50_000_001
    wr = osmium.SimpleWriter(str(path), header=hdr, overwrite=True)
    try:
        for n in used:
            wr.add_node(Node(id=base_n + n, location=(float(lonlat[n, 0]), float(lonlat[n, 1])), tags={}, **meta))
        for k, w in enumerate(net.ways):
            tags = {key: val for key, val in w.tags.items() if val != ""}
            wr.add_way(Way(id=base_w + k, nodes=[base_n + n for n in w.nodes], tags=tags, **meta))
    finally:
        wr.close()


def write_raster(path: Path, pop: np.ndarray, seed: int, what: str = "population") -> None:
    """A WorldPop-like float32 GeoTIFF of persons per cell, tagged synthetic."""
    import rasterio
    from affine import Affine

    profile = dict(driver="GTiff", width=pop.shape[1], height=pop.shape[0], count=1, dtype="float32",
                   crs="EPSG:4326", transform=Affine(RES, 0.0, WEST, 0.0, -RES, NORTH), nodata=NODATA,
                   compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pop, 1)
        dst.update_tags(SYNTHETIC="yes", STUDY=STUDY_NAME, UNITS="persons per cell",
                        SOURCE=f"access.demo.synth seed={seed}; invented data, not WorldPop")
        dst.set_band_description(1, f"{what} (synthetic)")


def write_facilities(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "category", "capacity", "lon", "lat"])
    for r in rows:
        w.writerow([r["id"], r["name"], r["category"], r["capacity"], r["lon"], r["lat"]])
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
